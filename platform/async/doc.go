// Package async runs asynchronous invocations. The router hands it a call
// (Enqueue) and answers 202 with the invocation's ID; the call is stored
// durably in a NATS JetStream work queue, run through the router's
// internal route with retries and a doubling delay, and its outcome kept
// in a JetStream key-value bucket, where the HTTP API (/v1/invocations)
// reads it. Invocations that failed after their last attempt form the
// dead-letter list; replaying one queues it again. An optional callback
// URL receives the outcome as JSON.
//
// Request bodies are limited to Config.MaxBodyBytes (NATS's message size
// limit). It imports api, client and nats.go, never another component.
package async
