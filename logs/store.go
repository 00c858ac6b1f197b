package logs

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink stores records. The Collector is its only writer.
type Sink interface {
	// Write stores recs durably before returning nil. It must be idempotent:
	// writing a record with the same Instance, Time and Seq again must not
	// create a second copy, because the pipeline resends on doubt. A
	// *PermanentError means the batch can never be stored; any other error is
	// retried with the same batch.
	Write(ctx context.Context, recs []Record) error
}

// Reader reads records back.
type Reader interface {
	// Query returns at most q.Limit records matching q, ordered by time, then
	// instance, then seq (newest first with q.Desc). An invalid q yields a
	// *QueryError.
	Query(ctx context.Context, q Query) ([]Record, error)
	// Follow calls fn with the newest q.Limit matching records (oldest first)
	// and then with every matching record written afterwards, as it is
	// written. It returns nil when ctx ends, or the first error from fn.
	Follow(ctx context.Context, q Query, fn func(Record) error) error
}

// Deps are the collaborators injected into the Shipper and the Collector.
type Deps struct {
	// Logger defaults to a discarding logger.
	Logger *slog.Logger
	// Registerer receives the metrics; nil means no metrics.
	Registerer prometheus.Registerer
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}
