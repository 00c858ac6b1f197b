package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
)

// servePprof serves Go's profiles on their own listener, never on a port
// that user traffic reaches.
func servePprof(ctx context.Context, addr string, logger *slog.Logger) error {
	ln, err := listen("--pprof-addr", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = serve(ctx, ln, mux, logger) }()
	return nil
}
