// Package mqtrigger runs MessageQueueTriggers: for every trigger it
// consumes the trigger's topic durably through a Broker, calls the
// function through the router's internal route for each message, and
// publishes the answer to the response topic.
//
// # Delivery
//
// Delivery is at least once. A message is acknowledged only after the
// function answered with a status below 400 and its answer (if the trigger
// has a response topic) was stored by the broker. A failed call is retried
// after a growing delay, up to spec.maxRetries times; then the message is
// published to the error topic with the reason and acknowledged. Without an
// error topic it is logged as an error and counted in
// lantern_mqt_messages_failed_total. A message whose handling was cut short
// (lanternd stopped, the broker went away) is delivered again by the
// broker. Messages of one trigger are handled concurrently, so their order
// is not kept.
//
// Brokers live in subpackages (nats, kafka) and satisfy Broker; this
// package imports api and client, never another component.
package mqtrigger
