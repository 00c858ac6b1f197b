package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api/runtime"
	"github.com/lantern-faas/lantern/platform/environments/binary"
)

// envBinaryCommand runs the built-in binary runtime: one generic instance
// that runs a packaged executable per request.
func envBinaryCommand(getenv func(string) string) *cobra.Command {
	return &cobra.Command{
		Use:    "env-binary",
		Short:  "Run a generic instance of the binary runtime (started by the poolmgr)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr := "127.0.0.1:" + envOr(getenv, runtime.EnvPort, "8888")
			dir := envOr(getenv, runtime.EnvUserfunc, "/userfunc")
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			return binary.Serve(cmd.Context(), addr, dir, logger)
		},
	}
}
