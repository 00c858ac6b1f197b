package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lantern-faas/lantern/platform/api"
)

// APIError is a non-2xx answer of a Lantern API.
type APIError struct {
	Status int
	Body   api.ErrorBody
}

func (e *APIError) Error() string {
	msg := e.Body.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Body.Field != "" && !strings.HasPrefix(msg, e.Body.Field) {
		msg = e.Body.Field + ": " + msg
	}
	return msg
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409 answer.
func IsConflict(err error) bool { return statusOf(err) == http.StatusConflict }

// StatusOf returns the HTTP status of an APIError, or 0.
func StatusOf(err error) int { return statusOf(err) }

func statusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// decodeError reads an error response. Bodies that are not the JSON envelope
// become the message as they are.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode}
	if err := json.Unmarshal(b, &e.Body); err != nil || e.Body.Message == "" {
		e.Body = api.ErrorBody{Message: strings.TrimSpace(string(b))}
	}
	return e
}

// ConnectError is returned when the API cannot be reached at all.
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v", e.URL, e.Err)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// StatusAndBody lets the server-side error mapping pass a remote API's
// answer through unchanged.
func (e *APIError) StatusAndBody() (int, api.ErrorBody) { return e.Status, e.Body }
