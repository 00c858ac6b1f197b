package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lantern-faas/lantern/platform/mqtrigger"
)

// Config says how to reach Kafka.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Partitions is the partition count of topics Lantern creates.
	Partitions int32
}

// Broker produces to Kafka and starts consumer groups.
type Broker struct {
	cfg    Config
	prod   *kgo.Client
	adm    *kadm.Client
	logger *slog.Logger
}

var _ mqtrigger.Broker = (*Broker)(nil)

// New returns a broker for the seed brokers; it does not connect until
// used, so unreachable brokers show up when a trigger subscribes.
func New(cfg Config, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no Kafka brokers given")
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.AllowAutoTopicCreation(),
		kgo.RecordRetries(5), kgo.ProduceRequestTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", strings.Join(cfg.Brokers, ","), err)
	}
	return &Broker{cfg: cfg, prod: prod, adm: kadm.NewClient(prod), logger: logger}, nil
}

// Close closes the producer.
func (b *Broker) Close() { b.prod.Close() }

// ensureTopic creates topic unless it exists.
func (b *Broker) ensureTopic(ctx context.Context, topic string) error {
	res, err := b.adm.CreateTopics(ctx, b.cfg.Partitions, 1, nil, topic)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for _, r := range res {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", topic, r.Err)
		}
	}
	return nil
}

// Subscribe implements mqtrigger.Broker.
func (b *Broker) Subscribe(ctx context.Context, sub mqtrigger.Subscription, handle func(mqtrigger.Message)) (mqtrigger.Consumer, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.prod.Ping(pctx); err != nil {
		return nil, fmt.Errorf("reach Kafka at %s: %w", strings.Join(b.cfg.Brokers, ","), err)
	}
	if err := b.ensureTopic(pctx, sub.Topic); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.cfg.Brokers...), kgo.ConsumerGroup(sub.ID), kgo.ConsumeTopics(sub.Topic),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			_ = cl.CommitMarkedOffsets(ctx)
		}))
	if err != nil {
		return nil, err
	}
	c := &consumer{b: b, cl: cl, group: sub.ID, topic: sub.Topic, handle: handle, max: max(sub.MaxInFlight, 1),
		parts: map[int32]*partition{}, done: make(chan struct{})}
	go c.run()
	return c, nil
}

// Publish implements mqtrigger.Broker. Kafka keeps no message IDs: a
// message delivered again may be answered twice.
func (b *Broker) Publish(ctx context.Context, topic string, out mqtrigger.Outgoing) error {
	rec := &kgo.Record{Topic: topic, Value: out.Data}
	for k, v := range out.Headers {
		if v != "" {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	if err := b.prod.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("produce to %s: %w", topic, err)
	}
	return nil
}

// consumer polls one consumer group and commits what is done.
type consumer struct {
	b      *Broker
	cl     *kgo.Client
	group  string
	topic  string
	handle func(mqtrigger.Message)
	max    int

	mu    sync.Mutex
	parts map[int32]*partition
	stop  bool
	done  chan struct{}
}

// partition tracks which offsets of one partition are done, so that the
// committed offset never passes a message still being worked on.
type partition struct {
	next int64          // the lowest offset not yet done
	done map[int64]bool // offsets at or after next that are done
	init bool
}

func (c *consumer) run() {
	defer close(c.done)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := c.cl.PollRecords(ctx, c.max)
		cancel()
		c.mu.Lock()
		stopped := c.stop
		c.mu.Unlock()
		if stopped || c.cl.Context().Err() != nil {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				c.b.logger.Debug("fetch", "group", c.group, "err", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			c.mu.Lock()
			p := c.parts[r.Partition]
			if p == nil {
				p = &partition{done: map[int64]bool{}}
				c.parts[r.Partition] = p
			}
			if !p.init {
				p.next, p.init = r.Offset, true
			}
			c.mu.Unlock()
			c.handle(&message{c: c, r: r, attempt: 1})
		})
	}
}

// acked marks r done and the partition's contiguous done offsets
// committable.
func (c *consumer) acked(r *kgo.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.parts[r.Partition]
	if p == nil {
		return
	}
	p.done[r.Offset] = true
	moved := false
	for p.done[p.next] {
		delete(p.done, p.next)
		p.next++
		moved = true
	}
	if moved {
		c.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{
			c.topic: {r.Partition: {Epoch: r.LeaderEpoch, Offset: p.next}},
		})
	}
}

func (c *consumer) commit() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
		c.b.logger.Debug("commit offsets", "group", c.group, "err", err)
	}
}

func (c *consumer) Stop() {
	c.mu.Lock()
	c.stop = true
	c.mu.Unlock()
	<-c.done
	c.commit()
	c.cl.Close()
}

func (c *consumer) Lag(ctx context.Context) (int64, error) {
	lags, err := c.b.adm.Lag(ctx, c.group)
	if err != nil {
		return 0, err
	}
	l, ok := lags[c.group]
	if !ok {
		return 0, fmt.Errorf("no lag for group %s", c.group)
	}
	if l.Error() != nil {
		return 0, l.Error()
	}
	return l.Lag.Total(), nil
}

// message is one record; Retry hands it to the trigger again.
type message struct {
	c       *consumer
	r       *kgo.Record
	attempt int
}

func (m *message) Data() []byte { return m.r.Value }

func (m *message) Headers() map[string]string {
	out := make(map[string]string, len(m.r.Headers))
	for _, h := range m.r.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

func (m *message) ID() string {
	return strconv.Itoa(int(m.r.Partition)) + "-" + strconv.FormatInt(m.r.Offset, 10)
}

func (m *message) Attempt() int { return m.attempt }

func (m *message) Ack() error {
	m.c.acked(m.r)
	return nil
}

func (m *message) Retry(delay time.Duration) error {
	next := &message{c: m.c, r: m.r, attempt: m.attempt + 1}
	time.AfterFunc(delay, func() {
		m.c.mu.Lock()
		stopped := m.c.stop
		m.c.mu.Unlock()
		if !stopped {
			m.c.handle(next)
		}
	})
	return nil
}

func (m *message) InProgress() error { return nil }
