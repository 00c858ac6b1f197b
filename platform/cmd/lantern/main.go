// Command lantern is the command-line client of Lantern.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/lantern-faas/lantern/platform/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
