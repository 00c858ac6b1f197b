// Package natsd runs an embedded NATS server with JetStream, the default
// message broker of "lanternd all" when no --nats-url is given. Its store
// lives in a folder under --data-dir, so streams and consumers survive a
// restart.
//
// It imports only nats-server and the standard library.
package natsd
