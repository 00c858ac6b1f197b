package nats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lantern-faas/lantern/platform/mqtrigger"
)

// Config says how to reach NATS.
type Config struct {
	// URL is the server's URL, or a comma-separated list.
	URL string
	// Name is the connection's name as the server shows it.
	Name string
	// StreamMaxAge bounds how long the streams Lantern creates keep
	// messages; 0 keeps them until limits are reached.
	StreamMaxAge time.Duration
}

// Broker is a connection to NATS with JetStream.
type Broker struct {
	cfg    Config
	nc     *natsgo.Conn
	js     jetstream.JetStream
	logger *slog.Logger

	mu      sync.Mutex
	streams map[string]string // subject -> stream
}

var _ mqtrigger.Broker = (*Broker)(nil)

// Connect connects to NATS. An unreachable server is not an error: the
// connection keeps trying in the background, and subscribing fails until
// it succeeds.
func Connect(cfg Config, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	nc, err := natsgo.Connect(cfg.URL, natsgo.Name(cfg.Name), natsgo.RetryOnFailedConnect(true), natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(250*time.Millisecond), natsgo.ReconnectBufSize(-1),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				logger.Warn("disconnected from NATS", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) { logger.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted()) }))
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Broker{cfg: cfg, nc: nc, js: js, logger: logger, streams: map[string]string{}}, nil
}

// Close closes the connection.
func (b *Broker) Close() { b.nc.Close() }

// Conn returns the underlying connection.
func (b *Broker) Conn() *natsgo.Conn { return b.nc }

// StreamName is the name of the stream Lantern creates for a subject.
func StreamName(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	clean := strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(subject)
	if len(clean) > 40 {
		clean = clean[:40]
	}
	return "lantern_" + clean + "_" + hex.EncodeToString(sum[:4])
}

// EnsureStream returns the stream that captures subject, creating one if
// none does.
func (b *Broker) EnsureStream(ctx context.Context, subject string) (string, error) {
	b.mu.Lock()
	name, ok := b.streams[subject]
	b.mu.Unlock()
	if ok {
		return name, nil
	}
	name, err := b.js.StreamNameBySubject(ctx, subject)
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrStreamNotFound):
		name = StreamName(subject)
		_, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage,
			MaxAge: b.cfg.StreamMaxAge, Duplicates: 2 * time.Minute,
			Description: "created by Lantern for the message queue triggers of " + subject,
		})
		if err != nil {
			return "", fmt.Errorf("create stream %s for %s: %w", name, subject, err)
		}
	default:
		return "", fmt.Errorf("find the stream of %s: %w", subject, err)
	}
	b.mu.Lock()
	b.streams[subject] = name
	b.mu.Unlock()
	return name, nil
}

// Subscribe implements mqtrigger.Broker.
func (b *Broker) Subscribe(ctx context.Context, sub mqtrigger.Subscription, handle func(mqtrigger.Message)) (mqtrigger.Consumer, error) {
	if !b.nc.IsConnected() {
		return nil, fmt.Errorf("not connected to NATS at %s", b.cfg.URL)
	}
	stream, err := b.EnsureStream(ctx, sub.Topic)
	if err != nil {
		return nil, err
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: sub.ID, FilterSubject: sub.Topic, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: sub.AckWait, MaxDeliver: -1, MaxAckPending: sub.MaxInFlight,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", sub.ID, stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { handle(&message{m: m}) },
		jetstream.PullMaxMessages(max(sub.MaxInFlight, 1)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.logger.Debug("consume", "consumer", sub.ID, "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", sub.Topic, err)
	}
	return &consumer{cons: cons, cc: cc}, nil
}

// Publish implements mqtrigger.Broker: the message is stored by a stream
// (created if needed) before it returns.
func (b *Broker) Publish(ctx context.Context, topic string, out mqtrigger.Outgoing) error {
	if _, err := b.EnsureStream(ctx, topic); err != nil {
		return err
	}
	msg := natsgo.NewMsg(topic)
	msg.Data = out.Data
	for k, v := range out.Headers {
		if v != "" {
			msg.Header.Set(k, v)
		}
	}
	var opts []jetstream.PublishOpt
	if out.ID != "" {
		opts = append(opts, jetstream.WithMsgID(out.ID))
	}
	if _, err := b.js.PublishMsg(ctx, msg, opts...); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

type consumer struct {
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
}

func (c *consumer) Stop() { c.cc.Stop() }

func (c *consumer) Lag(ctx context.Context) (int64, error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int64(info.NumPending), nil
}

// message adapts a JetStream message.
type message struct {
	m  jetstream.Msg
	md *jetstream.MsgMetadata
}

func (m *message) meta() *jetstream.MsgMetadata {
	if m.md == nil {
		md, err := m.m.Metadata()
		if err != nil {
			md = &jetstream.MsgMetadata{NumDelivered: 1}
		}
		m.md = md
	}
	return m.md
}

func (m *message) Data() []byte { return m.m.Data() }

func (m *message) Headers() map[string]string {
	h := m.m.Headers()
	out := make(map[string]string, len(h))
	for k, v := range h {
		if len(v) > 0 && !strings.HasPrefix(k, "Nats-") {
			out[k] = v[0]
		}
	}
	return out
}

func (m *message) ID() string { return strconv.FormatUint(m.meta().Sequence.Stream, 10) }

func (m *message) Attempt() int { return int(m.meta().NumDelivered) }

func (m *message) Ack() error { return m.m.Ack() }

func (m *message) Retry(delay time.Duration) error { return m.m.NakWithDelay(delay) }

func (m *message) InProgress() error { return m.m.InProgress() }
