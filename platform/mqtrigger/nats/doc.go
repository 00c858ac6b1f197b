// Package nats is the NATS JetStream broker of message queue triggers.
// Every topic is a subject captured by a stream: an existing stream that
// covers the subject is used, else one named after it is created. Every
// trigger is a durable pull consumer with explicit acknowledgement.
//
// It imports mqtrigger and nats.go, never a component.
package nats
