package influx_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/influx"
	"github.com/lantern-faas/lantern/logs/influxdtest"
	"github.com/lantern-faas/lantern/logs/logstest"
)

// TestStore_Contract runs the contract against a real InfluxDB 1.8 with
// both query languages, each subtest in its own database.
func TestStore_Contract(t *testing.T) {
	srv := influxdtest.Start(t, influxdtest.Options{Flux: true})
	var n atomic.Int64
	open := func(lang string) func(t *testing.T) logstest.Store {
		return func(t *testing.T) logstest.Store {
			db := fmt.Sprintf("contract_%d", n.Add(1))
			cfg := influx.Config{URL: srv.URL, Bucket: db + "/autogen"}
			if lang == influx.LanguageInfluxQL {
				cfg.Database = db
			}
			s, err := influx.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.EnsureDatabase(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Run("InfluxQL", func(t *testing.T) { logstest.Run(t, open(influx.LanguageInfluxQL)) })
	t.Run("Flux", func(t *testing.T) { logstest.Run(t, open(influx.LanguageFlux)) })
}

// TestStore_Write_Errors checks that a down server gives a retryable
// error and a malformed write a permanent one.
func TestStore_Write_Errors(t *testing.T) {
	srv := influxdtest.Start(t, influxdtest.Options{})
	ctx := context.Background()
	s, err := influx.New(influx.Config{URL: srv.URL, Bucket: "errs", Database: "errs"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureDatabase(ctx); err != nil {
		t.Fatal(err)
	}
	rec := logs.Record{Time: logstest.Base, Namespace: "default", Function: "f", Instance: "i", Stream: "stdout", Message: "m", Seq: 1}
	if err := s.Write(ctx, []logs.Record{rec}); err != nil {
		t.Fatal(err)
	}

	t.Run("FieldTypeConflict", func(t *testing.T) {
		// Make "message" an integer field of the measurement in this shard.
		err := writeLine(ctx, srv.URL, "errs", influx.Measurement+",function=g message=1i 1")
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(ctx, []logs.Record{{Time: time.Unix(0, 2), Namespace: "default", Function: "g", Message: "text", Seq: 1}})
		if !logs.IsPermanent(err) {
			t.Errorf("Write with a field type conflict = %v, want a permanent error", err)
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		srv.Stop()
		defer srv.Start()
		err := s.Write(ctx, []logs.Record{rec})
		if err == nil || logs.IsPermanent(err) {
			t.Errorf("Write to a stopped server = %v, want a retryable error", err)
		}
	})
}
