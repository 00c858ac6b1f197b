package logstest

import (
	"context"

	"github.com/lantern-faas/lantern/logs"
)

// Sink is a function-field fake logs.Sink.
type Sink struct {
	WriteFunc func(ctx context.Context, recs []logs.Record) error
}

var _ logs.Sink = Sink{}

// Write calls WriteFunc.
func (s Sink) Write(ctx context.Context, recs []logs.Record) error { return s.WriteFunc(ctx, recs) }
