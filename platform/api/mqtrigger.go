package api

import (
	"strings"
	"time"
)

// KindMessageQueueTrigger is the kind of a MessageQueueTrigger.
const KindMessageQueueTrigger = "MessageQueueTrigger"

// Message queue types.
const (
	MQTypeNATS  = "nats"
	MQTypeKafka = "kafka"
)

// MQTypes are the message queue types Lantern knows.
var MQTypes = []string{MQTypeNATS, MQTypeKafka}

// Defaults of message queue triggers.
const (
	DefaultMQMaxRetries  = 3
	DefaultMQContentType = "application/json"
	// MaxMQMaxRetries bounds spec.maxRetries.
	MaxMQMaxRetries = 100
)

// MessageQueueTrigger calls a function for every message of a topic.
type MessageQueueTrigger struct {
	Kind     string                  `json:"kind"`
	Metadata Metadata                `json:"metadata"`
	Spec     MessageQueueTriggerSpec `json:"spec"`
}

// MessageQueueTriggerSpec says which topic feeds which function. Field
// names are Fission's.
type MessageQueueTriggerSpec struct {
	FunctionRef FunctionRef `json:"functionref"`
	// MessageQueueType is nats or kafka.
	MessageQueueType string `json:"messageQueueType"`
	// Topic is the NATS subject or Kafka topic consumed.
	Topic string `json:"topic"`
	// RespTopic, when set, receives the function's answers.
	RespTopic string `json:"respTopic,omitempty"`
	// ErrorTopic, when set, receives messages the function failed on
	// after MaxRetries retries, with the reason.
	ErrorTopic string `json:"errorTopic,omitempty"`
	// MaxRetries is how often a failed message is retried; it is tried
	// MaxRetries+1 times in all. A pointer so that 0 can be asked for;
	// default 3.
	MaxRetries *int `json:"maxRetries,omitempty"`
	// ContentType is the Content-Type of the call; default
	// application/json.
	ContentType string `json:"contentType,omitempty"`
}

// GetMetadata implements Object.
func (t *MessageQueueTrigger) GetMetadata() *Metadata { return &t.Metadata }

// GetKind implements Object.
func (t *MessageQueueTrigger) GetKind() string { return KindMessageQueueTrigger }

// Retries returns MaxRetries or its default.
func (s *MessageQueueTriggerSpec) Retries() int {
	if s.MaxRetries == nil {
		return DefaultMQMaxRetries
	}
	return *s.MaxRetries
}

// SetDefaults fills zero fields with their defaults.
func (t *MessageQueueTrigger) SetDefaults() {
	t.Kind = KindMessageQueueTrigger
	if t.Metadata.Namespace == "" {
		t.Metadata.Namespace = DefaultNamespace
	}
	s := &t.Spec
	s.MessageQueueType = strings.ToLower(strings.TrimSpace(s.MessageQueueType))
	if s.MaxRetries == nil {
		n := DefaultMQMaxRetries
		s.MaxRetries = &n
	}
	if s.ContentType == "" {
		s.ContentType = DefaultMQContentType
	}
	if s.FunctionRef.Type == "" {
		s.FunctionRef.Type = "name"
	}
}

// Validate checks a message queue trigger after SetDefaults.
func (t *MessageQueueTrigger) Validate() error {
	if err := validateMeta(&t.Metadata); err != nil {
		return err
	}
	s := &t.Spec
	if !contains(MQTypes, s.MessageQueueType) {
		return invalid("spec.messageQueueType", "unknown message queue type %q: use one of %s", s.MessageQueueType, strings.Join(MQTypes, ", "))
	}
	topics := []struct {
		field, v string
		required bool
	}{{"spec.topic", s.Topic, true}, {"spec.respTopic", s.RespTopic, false}, {"spec.errorTopic", s.ErrorTopic, false}}
	for _, tp := range topics {
		if tp.v == "" && !tp.required {
			continue
		}
		if err := validateTopic(tp.field, tp.v); err != nil {
			return err
		}
	}
	switch {
	case s.RespTopic != "" && s.RespTopic == s.Topic:
		return invalid("spec.respTopic", "must differ from spec.topic, or every answer would call the function again")
	case s.ErrorTopic != "" && s.ErrorTopic == s.Topic:
		return invalid("spec.errorTopic", "must differ from spec.topic, or every failure would call the function again")
	case s.Retries() < 0 || s.Retries() > MaxMQMaxRetries:
		return invalid("spec.maxRetries", "must be between 0 and %d, not %d", MaxMQMaxRetries, s.Retries())
	case strings.ContainsAny(s.ContentType, "\r\n"):
		return invalid("spec.contentType", "must be one line")
	case s.FunctionRef.Type != "name":
		return invalid("spec.functionref.type", "%q is not supported: use name", s.FunctionRef.Type)
	}
	return ValidateName("spec.functionref.name", s.FunctionRef.Name)
}

// validateTopic accepts names that are valid NATS subjects and Kafka
// topics alike: letters, digits, '.', '_' and '-', no wildcards.
func validateTopic(field, v string) error {
	if v == "" {
		return invalid(field, "must not be empty")
	}
	if len(v) > 249 {
		return invalid(field, "%q is %d characters long, at most 249 are allowed", v, len(v))
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid(field, "%q may only hold letters, digits, '.', '_' and '-' (no wildcards or spaces)", v)
		}
	}
	if strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..") {
		return invalid(field, "%q has an empty part between dots", v)
	}
	return nil
}

// MQTriggerStatus is how a message queue trigger's subscription is doing,
// as the mqtrigger component reports it.
type MQTriggerStatus struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Ready     bool      `json:"ready"`
	Message   string    `json:"message,omitempty"`
	Since     time.Time `json:"since"`
}
