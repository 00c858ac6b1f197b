package influx

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/lantern-faas/lantern/logs"
)

// Measurement is the measurement every line is written to.
const Measurement = "function_log"

// Query languages.
const (
	LanguageInfluxQL = "influxql"
	LanguageFlux     = "flux"
)

// Config configures a Store.
type Config struct {
	// URL of the InfluxDB HTTP API, e.g. http://127.0.0.1:8086. Required.
	URL string
	// Token authenticates: a 2.x API token, or on 1.8 "user:password" (or
	// "" while authentication is off).
	Token string
	// Org is the 2.x organisation; empty on 1.8.
	Org string
	// Bucket receives the writes: a 2.x bucket, or on 1.8
	// "database/retention-policy" ("database" for the default policy).
	// Required.
	Bucket string
	// Database selects InfluxQL queries against this 1.8 database. When it is
	// empty queries use Flux unless QueryLanguage says otherwise.
	Database string
	// QueryLanguage is LanguageInfluxQL or LanguageFlux; empty picks
	// InfluxQL when Database is set and Flux otherwise.
	QueryLanguage string
	// Timeout bounds each HTTP request. Default 30s.
	Timeout time.Duration
}

// Validate reports the first missing or inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("influx url is required")
	case c.Bucket == "":
		return errors.New("influx bucket is required")
	case c.QueryLanguage != "" && c.QueryLanguage != LanguageInfluxQL && c.QueryLanguage != LanguageFlux:
		return fmt.Errorf("influx query language %q: must be %q or %q", c.QueryLanguage, LanguageInfluxQL, LanguageFlux)
	}
	return nil
}

// Store writes and queries function logs in InfluxDB. Safe for concurrent
// use.
type Store struct {
	cfg      Config
	client   influxdb2.Client
	writer   api.WriteAPIBlocking
	http     *http.Client
	database string // for InfluxQL
	rp       string // for InfluxQL, may be empty
	hub      *logs.Hub
}

var (
	_ logs.Sink   = (*Store)(nil)
	_ logs.Reader = (*Store)(nil)
)

// New returns a Store. It does not contact the server.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	db, rp, _ := strings.Cut(cfg.Bucket, "/")
	if cfg.Database != "" {
		db = cfg.Database
	}
	if cfg.QueryLanguage == "" {
		cfg.QueryLanguage = LanguageFlux
		if cfg.Database != "" {
			cfg.QueryLanguage = LanguageInfluxQL
		}
	}
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(cfg.Timeout / time.Second)).
		SetLogLevel(0)
	client := influxdb2.NewClientWithOptions(strings.TrimRight(cfg.URL, "/"), cfg.Token, opts)
	return &Store{
		cfg:      cfg,
		client:   client,
		writer:   client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		http:     &http.Client{Timeout: cfg.Timeout},
		database: db,
		rp:       rp,
		hub:      logs.NewHub(),
	}, nil
}

// Close releases the client's idle connections.
func (s *Store) Close() error {
	s.client.Close()
	s.http.CloseIdleConnections()
	return nil
}

// Follow implements logs.Reader. Only writes through this Store are
// pushed.
func (s *Store) Follow(ctx context.Context, q logs.Query, fn func(logs.Record) error) error {
	return logs.Follow(ctx, s.hub, s, q, fn)
}

// Query implements logs.Reader.
func (s *Store) Query(ctx context.Context, q logs.Query) ([]logs.Record, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	var (
		recs []logs.Record
		err  error
	)
	if s.cfg.QueryLanguage == LanguageInfluxQL {
		recs, err = s.queryInfluxQL(ctx, q)
	} else {
		recs, err = s.queryFlux(ctx, q)
	}
	if err != nil {
		return nil, fmt.Errorf("query logs of %s/%s: %w", q.Namespace, q.Function, err)
	}
	return recs, nil
}
