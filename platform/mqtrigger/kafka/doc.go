// Package kafka is the Kafka broker of message queue triggers, on
// franz-go. Every trigger is a consumer group (named after the trigger)
// reading its topic; offsets are committed only up to the oldest message
// not yet acknowledged, so a restart delivers again whatever was not done.
// Kafka has no per-message redelivery: a retried message is handed to the
// trigger again in-process after its delay, and its attempts are counted
// here (they start over after a restart).
//
// It imports mqtrigger and franz-go, never a component.
package kafka
