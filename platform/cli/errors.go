package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/client"
)

// Exit codes of Main.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError is a mistake in the command line. It exits with code 2 and
// points to hint, by default the command's --help.
type usageError struct {
	err  error
	hint string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// hintError adds a "Try:" line to an error. A hint sent by the server wins
// over it.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: hint}
}

// report prints err as "Error:" and optional "Try:" lines and returns the
// exit code.
func (a *app) report(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) || !a.running {
		msg, hint := splitSuggestions(err.Error(), cmd.CommandPath())
		if ue != nil && ue.hint != "" {
			hint = ue.hint
		}
		if hint == "" {
			hint = cmd.CommandPath() + " --help"
		}
		printError(a.stderr, msg, hint)
		return exitUsage
	}
	if errors.Is(err, context.Canceled) {
		printError(a.stderr, "interrupted", "")
		return exitInterrupted
	}
	msg, hint := a.describe(err)
	printError(a.stderr, msg, hint)
	return exitFailure
}

// describe returns the message and hint of a runtime error.
func (a *app) describe(err error) (msg, hint string) {
	var (
		ae *client.APIError
		ce *client.ConnectError
		he *hintError
	)
	switch {
	case errors.As(err, &ae):
		msg, hint = ae.Error(), ae.Body.Hint
	case errors.As(err, &ce):
		msg = fmt.Sprintf("cannot reach the server at %s: %s", ce.URL, connectCause(ce.Err))
		hint = "start the server with 'make run' or set --server/LANTERN_URL"
	case errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("the server at %s did not answer within %s", a.server, a.timeout)
		hint = "raise --timeout, or check the server's logs"
	default:
		msg = err.Error()
	}
	if hint == "" && errors.As(err, &he) {
		hint = he.hint
	}
	return msg, hint
}

func printError(w io.Writer, msg, hint string) {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		msg = "unknown error"
	}
	fmt.Fprintf(w, "Error: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(w, "Try: %s\n", hint)
	}
}

// splitSuggestions turns cobra's multi-line "unknown command" message with
// its "Did you mean this?" list into one line and a hint.
func splitSuggestions(s, path string) (msg, hint string) {
	first, rest, _ := strings.Cut(s, "\n")
	var sugg []string
	for _, l := range strings.Split(rest, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasSuffix(l, "?") {
			sugg = append(sugg, path+" "+l)
		}
	}
	if len(sugg) > 0 {
		hint = "did you mean '" + strings.Join(sugg, "' or '") + "'?"
	}
	return first, hint
}

// connectCause shortens a transport error to its cause ("connect:
// connection refused") since the message already names the URL.
func connectCause(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// explain adds a hint to an API error that carries none: what to do when
// the object of kind (a command group such as "fn") is missing or exists.
func (a *app) explain(err error, op, group, name string) error {
	switch client.StatusOf(err) {
	case http.StatusNotFound:
		return withHint(err, fmt.Sprintf("list them with 'lantern %s list -n %s'", group, a.namespace))
	case http.StatusConflict:
		if op == "create" {
			return withHint(err, fmt.Sprintf("change it with 'lantern %s update -n %s --name %s'", group, a.namespace, name))
		}
		return withHint(err, "it changed while it was being updated: run the command again")
	}
	return err
}
