package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// trimWhenIdle gives memory back to the operating system once lanternd has
// gone quiet after a busy spell. Go keeps freed heap for reuse and returns
// it slowly, and sync.Pool buffers live until two collections pass, which
// an idle process never runs: after a burst of 500 connections lanternd
// stayed at ~75 MB for minutes with half of it free. Quiet means no garbage
// collection in a whole interval; then two collections and a release run
// once, until the next busy spell.
func trimWhenIdle(ctx context.Context, every time.Duration, minFree uint64, logger *slog.Logger) {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/memory/classes/heap/free:bytes"}}
	read := func() (cycles, free uint64) {
		metrics.Read(samples)
		return samples[0].Value.Uint64(), samples[1].Value.Uint64()
	}
	last, _ := read()
	trimmed := true
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cycles, free := read()
		if cycles != last {
			last, trimmed = cycles, false
			continue
		}
		if trimmed || free < minFree {
			continue
		}
		runtime.GC() // what sync.Pool kept goes to its victim cache...
		debug.FreeOSMemory()
		trimmed = true
		last, free = read()
		logger.Debug("idle: returned free memory to the OS", "heap_free_bytes", free)
	}
}
