// Package httpx holds the HTTP plumbing every Lantern API shares: the JSON
// error envelope, the one place errors are classified into status codes,
// request IDs, and NDJSON streaming.
package httpx
