package logs

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
)

// ShipperConfig configures a Shipper. Zero fields take the values of
// DefaultShipperConfig.
type ShipperConfig struct {
	// Addr is the collector's forward-protocol address, host:port. Required.
	Addr string
	// SpoolDir holds the disk spool. Required; a restarted Shipper on the
	// same directory resends what its predecessor left there.
	SpoolDir string
	// MaxSpoolBytes bounds the spool; beyond it the oldest records are
	// dropped (reason buffer_full).
	MaxSpoolBytes int64
	// QueueSize is the in-memory queue in records; when it is full, records
	// spill to the spool.
	QueueSize int
	// Window is how many records may be handed to the forward client and not
	// yet acknowledged.
	Window int
	// AckTimeout bounds dialling, writing and waiting for an ack.
	AckTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to reach the
	// collector while records are spooled.
	RetryMin time.Duration
	RetryMax time.Duration
	// FlushTimeout bounds Close: what is not acknowledged by then stays in
	// the spool.
	FlushTimeout time.Duration
}

// DefaultShipperConfig returns the defaults.
func DefaultShipperConfig() ShipperConfig {
	return ShipperConfig{
		MaxSpoolBytes: 256 << 20,
		QueueSize:     10000,
		Window:        128,
		AckTimeout:    5 * time.Second,
		RetryMin:      100 * time.Millisecond,
		RetryMax:      5 * time.Second,
		FlushTimeout:  10 * time.Second,
	}
}

// Validate reports a missing or malformed required field.
func (c ShipperConfig) Validate() error {
	if _, _, err := splitHostPort(c.Addr); err != nil {
		return fmt.Errorf("shipper addr %q: %w", c.Addr, err)
	}
	if c.SpoolDir == "" {
		return errors.New("shipper spool dir is required")
	}
	return nil
}

func (c ShipperConfig) withDefaults() ShipperConfig {
	d := DefaultShipperConfig()
	if c.MaxSpoolBytes <= 0 {
		c.MaxSpoolBytes = d.MaxSpoolBytes
	}
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = d.AckTimeout
	}
	if c.RetryMin <= 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	if c.FlushTimeout <= 0 {
		c.FlushTimeout = d.FlushTimeout
	}
	return c
}

// Shipper ships records to a collector over the forward protocol with
// fluent-logger-golang (async, sub-second timestamps, acks requested). Ship
// never blocks on the network: records wait in a bounded in-memory queue and,
// while the collector is unreachable or slow, in a disk spool that is resent
// in order once it is back. Safe for concurrent use.
type Shipper struct {
	cfg    ShipperConfig
	host   string
	port   int
	log    *slog.Logger
	m      *shipperMetrics
	spool  *spool
	wake   chan struct{}
	done   chan struct{}
	client *fluent.Fluent // owned by the run goroutine

	mu           sync.Mutex
	queue        ring
	inflight     []inflight // handed to client, oldest first
	gen          uint64     // client generation, to ignore stale callbacks
	spooling     bool       // new records go through the spool until it is empty
	failed       bool       // a send failed: the client must be reset
	resendFailed bool       // a record resent from the spool was not acknowledged
	closing      bool
}

// inflight is a record handed to the forward client.
type inflight struct {
	rec       Record
	fromSpool bool
}

// ShipperStats counts the records a Shipper holds.
type ShipperStats struct {
	Queued   int // in memory, not yet sent
	InFlight int // sent, not yet acknowledged
	Spooled  int // in the disk spool
}

// NewShipper starts a Shipper. Close it to flush.
func NewShipper(cfg ShipperConfig, deps Deps) (*Shipper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	host, port, _ := splitHostPort(cfg.Addr)
	s := &Shipper{
		cfg:   cfg,
		host:  host,
		port:  port,
		log:   deps.logger(),
		m:     newShipperMetrics(deps.Registerer),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		queue: newRing(cfg.QueueSize),
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.MaxSpoolBytes, func(n int) { s.m.dropped.Add(float64(n)) })
	if err != nil {
		return nil, err
	}
	s.spool = sp
	if n, _ := sp.stats(); n > 0 {
		s.spooling = true
		s.log.Info("resending spooled log lines", "records", n, "dir", cfg.SpoolDir)
	}
	go s.run()
	return s, nil
}

// Ship queues r for shipping. It never blocks on the network; when the
// in-memory queue is full the queue spills to the disk spool. After Close, r
// is dropped (reason buffer_full).
func (s *Shipper) Ship(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		s.m.dropped.Inc()
		return
	}
	if s.queue.push(r) {
		s.signal()
		return
	}
	// Full: the queue goes to the spool ahead of r, keeping capture order.
	s.spoolLocked(append(s.queue.drain(), r)...)
	s.spooling = true
	s.signal()
}

// Stats returns how many records the Shipper holds.
func (s *Shipper) Stats() ShipperStats {
	s.mu.Lock()
	st := ShipperStats{Queued: s.queue.len(), InFlight: len(s.inflight)}
	s.mu.Unlock()
	st.Spooled, _ = s.spool.stats()
	return st
}

// Close sends what is queued (for at most FlushTimeout), leaves the rest in
// the spool for the next Shipper on the same SpoolDir, and stops.
func (s *Shipper) Close() error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.signal()
	<-s.done
	return s.spool.close()
}

func (s *Shipper) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// spoolLocked appends recs to the spool. s.mu must be held.
func (s *Shipper) spoolLocked(recs ...Record) {
	if len(recs) == 0 {
		return
	}
	payloads := make([][]byte, len(recs))
	for i, r := range recs {
		payloads[i] = appendEntry(nil, r)
	}
	if err := s.spool.append(payloads...); err != nil {
		s.m.dropped.Add(float64(len(recs)))
		s.log.Error("log lines lost: spool write failed", "records", len(recs), "err", err)
		return
	}
	s.m.spooled.Add(float64(len(recs)))
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}
