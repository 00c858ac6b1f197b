package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/store"
)

// Error is an error with an HTTP status and a user-facing message.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string
	Hint    string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with status and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Code: codeFor(status), Message: fmt.Sprintf(format, args...)}
}

// WithHint sets the hint and returns e.
func (e *Error) WithHint(h string) *Error { e.Hint = h; return e }

// Classify maps any error to the status and body clients see. It is the only
// place errors become status codes.
func Classify(err error) (int, api.ErrorBody) {
	var (
		he  *Error
		ve  *api.ValidationError
		ee  *echo.HTTPError
		se  *json.SyntaxError
		ute *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	var remote interface{ StatusAndBody() (int, api.ErrorBody) }
	switch {
	case errors.As(err, &remote):
		return remote.StatusAndBody()
	case errors.As(err, &he):
		return he.Status, api.ErrorBody{Code: codeFor(he.Status), Message: he.Error(), Field: he.Field, Hint: he.Hint}
	case errors.As(err, &ve):
		return http.StatusBadRequest, api.ErrorBody{Code: "invalid", Message: ve.Error(), Field: ve.Field}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, api.ErrorBody{Code: "too_large", Message: fmt.Sprintf("request body is larger than the limit of %d bytes", mbe.Limit)}
	case errors.As(err, &se):
		return http.StatusBadRequest, api.ErrorBody{Code: "invalid", Message: fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)}
	case errors.As(err, &ute):
		return http.StatusBadRequest, api.ErrorBody{Code: "invalid", Field: ute.Field, Message: fmt.Sprintf("field %q must be a %s, not a JSON %s", ute.Field, ute.Type, ute.Value)}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, api.ErrorBody{Code: "not_found", Message: err.Error()}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, api.ErrorBody{Code: "conflict", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, api.ErrorBody{Code: "timeout", Message: err.Error()}
	case errors.As(err, &ee):
		msg := fmt.Sprint(ee.Message)
		if ee.Code == http.StatusRequestEntityTooLarge {
			msg = "request body is larger than the limit"
		}
		return ee.Code, api.ErrorBody{Code: codeFor(ee.Code), Message: msg}
	}
	return http.StatusInternalServerError, api.ErrorBody{Code: "internal", Message: err.Error()}
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusGatewayTimeout:
		return "timeout"
	case http.StatusBadGateway:
		return "bad_gateway"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	}
	if status >= 500 {
		return "internal"
	}
	return "error"
}

// WriteError writes err as the JSON envelope.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := Classify(err)
	body.RequestID = w.Header().Get(RequestIDHeader)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// EchoErrorHandler returns an echo error handler that writes the envelope and
// logs server-side failures.
func EchoErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status, _ := Classify(err)
		if status >= 500 {
			logger.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
		}
		WriteError(c.Response(), c.Request(), err)
	}
}
