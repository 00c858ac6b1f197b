package mqtrigger

import (
	"context"
	"time"
)

// Broker is one message queue system (NATS JetStream, Kafka).
type Broker interface {
	// Subscribe consumes sub.Topic durably as the consumer sub.ID and
	// calls handle for each message, from one goroutine, until the
	// returned Consumer is stopped. A consumer that existed keeps its
	// position. It returns an error when the broker cannot be reached or
	// refuses the subscription; nothing is consumed then.
	Subscribe(ctx context.Context, sub Subscription, handle func(Message)) (Consumer, error)
	// Publish stores one message on topic and returns once the broker has
	// it. Publishing twice with the same non-empty Outgoing.ID may keep
	// only one copy.
	Publish(ctx context.Context, topic string, m Outgoing) error
}

// Subscription says what to consume.
type Subscription struct {
	// ID names the durable consumer; it is stable for one trigger.
	ID    string
	Topic string
	// MaxInFlight is how many messages may be delivered and not yet
	// acknowledged.
	MaxInFlight int
	// AckWait is how long the broker waits for an acknowledgement (or
	// InProgress) before it delivers a message again.
	AckWait time.Duration
}

// Consumer is a running subscription.
type Consumer interface {
	// Stop stops delivering messages; unacknowledged ones are delivered
	// again later.
	Stop()
	// Lag returns how many messages of the topic are not yet delivered to
	// the consumer.
	Lag(ctx context.Context) (int64, error)
}

// Message is one delivered message.
type Message interface {
	Data() []byte
	// Headers are the message's headers, first value of each.
	Headers() map[string]string
	// ID identifies the message within its topic (stream sequence,
	// partition and offset).
	ID() string
	// Attempt is 1 on the first delivery, 2 on the second, and so on.
	Attempt() int
	// Ack marks the message done.
	Ack() error
	// Retry asks for the message again after delay.
	Retry(delay time.Duration) error
	// InProgress tells the broker the message is still being worked on.
	InProgress() error
}

// Outgoing is a message to publish.
type Outgoing struct {
	Data    []byte
	Headers map[string]string
	// ID, when set, lets the broker drop a duplicate publish.
	ID string
}
