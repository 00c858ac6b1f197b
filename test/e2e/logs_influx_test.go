package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/logs/influxdtest"
)

// TestFunctionLogsInfluxDB runs lanternd with a real InfluxDB 1.8 as the log
// store, stops InfluxDB in the middle of the calls and starts it again:
// every line arrives afterwards, none twice, and queries read them back
// from InfluxDB.
func TestFunctionLogsInfluxDB(t *testing.T) {
	t.Parallel()
	db := influxdtest.Start(t, influxdtest.Options{})
	l := startAll(t, "--influxdb-url", db.URL, "--influxdb-bucket", "lantern", "--influxdb-database", "lantern")
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python")
	l.mustLantern(t, "fn", "create", "--name", "numbered", "--env", "python", "--code", fixture("python", "numbered.py"))

	const lines = 4
	call := func(c int) string {
		r := l.get(t, fmt.Sprintf("/fn/default/numbered?call=%d&lines=%d", c, lines))
		if r.Status != http.StatusOK {
			t.Fatalf("call %d: %s", c, r)
		}
		return r.Header.Get("X-Lantern-Request-Id")
	}
	ids := map[int]string{}
	for c := 0; c < 5; c++ {
		ids[c] = call(c)
	}
	db.Stop() // InfluxDB goes down mid-run: the collector retries
	for c := 5; c < 10; c++ {
		ids[c] = call(c)
	}
	time.Sleep(500 * time.Millisecond)
	db.Start()

	want := 10 * lines * 2
	eventually(t, 30*time.Second, 200*time.Millisecond, "every line reaches InfluxDB", func() error {
		recs, err := l.Client.Logs(context.Background(), "default", "numbered", url.Values{"limit": {"1000"}})
		if err != nil {
			return err
		}
		if len(recs) < want {
			return fmt.Errorf("got %d lines, want %d", len(recs), want)
		}
		return nil
	})
	recs, err := l.Client.Logs(context.Background(), "default", "numbered", url.Values{"limit": {"1000"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != want {
		count := map[string]int{}
		for _, r := range recs {
			count[r.Message]++
			if count[r.Message] > 1 {
				t.Errorf("stored twice: %+v", r)
			}
		}
		t.Fatalf("got %d lines, want exactly %d (none twice)", len(recs), want)
	}
	// The lines are in InfluxDB itself, in the documented schema.
	q := url.Values{"db": {"lantern"}, "q": {`SELECT count("message") FROM "function_log" WHERE "function" = 'numbered'`}}
	r := do(t, http.MethodGet, db.URL+"/query?"+q.Encode(), nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, fmt.Sprintf(",%d]", want)) {
		t.Errorf("InfluxDB count of function_log lines: got %s, want %d", r, want)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		var c, i int
		var stream string
		if _, err := fmt.Sscanf(r.Message, "call %d %s line %d", &c, &stream, &i); err != nil {
			t.Fatalf("unexpected line %q", r.Message)
		}
		if seen[r.Message] {
			t.Errorf("line %q stored twice", r.Message)
		}
		seen[r.Message] = true
		if r.RequestID != ids[c] {
			t.Errorf("line %q: request ID %q, want %q", r.Message, r.RequestID, ids[c])
		}
	}
}
