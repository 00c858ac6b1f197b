package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// CollectorConfig configures a Collector. Zero fields take the values of
// DefaultCollectorConfig.
type CollectorConfig struct {
	// Addr is the TCP address Run listens on for the forward protocol.
	Addr string
	// BatchSize is the most records written to the sink at once; a batch is
	// also written FlushInterval after its first record arrived.
	BatchSize     int
	FlushInterval time.Duration
	// QueueBatches is how many full batches may wait for the sink. When they
	// do, the collector stops reading from its connections (backpressure)
	// and senders spool.
	QueueBatches int
	// RetryMin and RetryMax bound the exponential backoff between failed
	// sink writes. Writes are retried until they succeed.
	RetryMin time.Duration
	RetryMax time.Duration
	// DedupeWindow is how many recent (instance, seq) pairs are remembered
	// to drop resent duplicates.
	DedupeWindow int
	// DrainTimeout bounds how long a stopping collector keeps trying to
	// write what it has received.
	DrainTimeout time.Duration
	// SpoolDir, if set, keeps the records a stopping collector could not
	// write (the sink being down); the next collector on the same directory
	// writes them first. Without it they are lost and Run says how many.
	SpoolDir      string
	MaxSpoolBytes int64
}

// DefaultCollectorConfig returns the defaults.
func DefaultCollectorConfig() CollectorConfig {
	return CollectorConfig{
		Addr:          "127.0.0.1:24224",
		BatchSize:     1000,
		FlushInterval: 200 * time.Millisecond,
		QueueBatches:  16,
		RetryMin:      100 * time.Millisecond,
		RetryMax:      10 * time.Second,
		DedupeWindow:  200000,
		DrainTimeout:  10 * time.Second,
		MaxSpoolBytes: 1 << 30,
	}
}

func (c CollectorConfig) withDefaults() CollectorConfig {
	d := DefaultCollectorConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.QueueBatches <= 0 {
		c.QueueBatches = d.QueueBatches
	}
	if c.RetryMin <= 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	if c.DedupeWindow <= 0 {
		c.DedupeWindow = d.DedupeWindow
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.MaxSpoolBytes <= 0 {
		c.MaxSpoolBytes = d.MaxSpoolBytes
	}
	return c
}

// Collector receives the forward protocol and writes what it decodes to a
// Sink in batches, retrying while the sink is down. A Collector serves once.
type Collector struct {
	cfg  CollectorConfig
	sink Sink
	log  *slog.Logger
	m    *collectorMetrics

	in       chan []Record // decoded messages, to the batcher
	batches  chan []Record // batches, to the writer
	stopping chan struct{} // closed when the collector stops
	spool    *spool        // nil without SpoolDir

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	used    bool
	closed  bool           // Add refuses records: the collector is draining
	adding  sync.WaitGroup // Add calls queueing records
	written func([]Record)
	rewrite func(tag string, recs []Record) []Record
}

// NewCollector returns a Collector writing to sink.
func NewCollector(cfg CollectorConfig, sink Sink, deps Deps) (*Collector, error) {
	if sink == nil {
		return nil, errors.New("collector sink is required")
	}
	cfg = cfg.withDefaults()
	return &Collector{
		cfg:      cfg,
		sink:     sink,
		log:      deps.logger(),
		m:        newCollectorMetrics(deps.Registerer),
		in:       make(chan []Record, 64),
		batches:  make(chan []Record, cfg.QueueBatches),
		stopping: make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}, nil
}

// SetWritten sets a function called with each batch once the sink has
// stored it (or rejected it for good), in the order of writing; call it
// before Serve. It runs on the writer: it must not block.
func (c *Collector) SetWritten(f func([]Record)) { c.written = f }

// SetRewrite sets a function that sees the records of each message
// received, with the message's tag, and returns those to queue: for
// records that only the receiving process can complete (pool pod lines a
// node agent forwards, attributed with what the process knows of the
// pods). Call it before Serve. It runs on the connection's goroutine;
// what it returns is queued before the message is acknowledged.
func (c *Collector) SetRewrite(f func(tag string, recs []Record) []Record) { c.rewrite = f }

// Add queues recs as if a sender had sent them, for a source in the same
// process (a node's pod log reader). Like a connection, it waits while the
// queue of batches is full. It returns ErrClosed once the collector stops,
// or ctx's error.
func (c *Collector) Add(ctx context.Context, recs []Record) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.adding.Add(1)
	c.mu.Unlock()
	defer c.adding.Done()
	c.m.received.Add(float64(len(recs)))
	select {
	case c.in <- recs:
		return nil
	case <-c.stopping:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run listens on cfg.Addr and serves until ctx ends; see Serve.
func (c *Collector) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("collector listen (addr %q): %w", c.cfg.Addr, err)
	}
	return c.Serve(ctx, ln)
}

// Serve accepts forward-protocol connections on ln until ctx ends, then
// closes ln and the connections (unacknowledged messages are resent by their
// senders) and writes what was received, for at most DrainTimeout. It
// returns an error if records were left unwritten and could not be spooled.
func (c *Collector) Serve(ctx context.Context, ln net.Listener) error {
	c.mu.Lock()
	if c.used {
		c.mu.Unlock()
		_ = ln.Close()
		return errors.New("collector already served")
	}
	c.used = true
	c.mu.Unlock()
	if c.cfg.SpoolDir != "" {
		sp, err := openSpool(c.cfg.SpoolDir, c.cfg.MaxSpoolBytes, func(n int) { c.m.lost.Add(float64(n)) })
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("collector spool (dir %q): %w", c.cfg.SpoolDir, err)
		}
		c.spool = sp
		defer sp.close()
	}
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	writerErr := make(chan error, 1)
	go c.batchLoop()
	go func() { writerErr <- c.writeLoop(wctx) }()

	ctx, cancel := context.WithCancel(ctx) // also stops on a listener failure
	defer cancel()
	var wg sync.WaitGroup
	go func() {
		<-ctx.Done()
		close(c.stopping)
		_ = ln.Close()
		c.closeConns()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				break
			}
			c.log.Warn("collector accept", "err", err) // e.g. out of file descriptors
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if !c.track(conn) {
			_ = conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serveConn(conn)
		}()
	}
	cancel()
	wg.Wait()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.adding.Wait()
	close(c.in) // the batcher flushes and closes c.batches
	drain := time.AfterFunc(c.cfg.DrainTimeout, wcancel)
	defer drain.Stop()
	return <-writerErr
}

// track registers a connection so that stopping closes it.
func (c *Collector) track(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stopping:
		return false
	default:
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *Collector) untrack(conn net.Conn) {
	c.mu.Lock()
	delete(c.conns, conn)
	c.mu.Unlock()
}

func (c *Collector) closeConns() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for conn := range c.conns {
		_ = conn.Close()
	}
}
