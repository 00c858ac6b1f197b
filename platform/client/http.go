package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/lantern-faas/lantern/platform/api"
)

// base is the shared request plumbing of the clients.
type base struct {
	url string
	hc  *http.Client
}

func newBase(url string, hc *http.Client) base {
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	return base{url: strings.TrimRight(url, "/"), hc: hc}
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
func (b base) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := b.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a 2xx response, or the decoded error.
func (b base) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		buf, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.url+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	// Carry the caller's trace to the next component.
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := b.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnectError{URL: b.url, Err: err}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// streamError returns the error a server ended a stream with: a line that
// is the error envelope ({"code": ..., "message": ...}) instead of an item.
// Items never have a code field, so most lines are passed over by a
// substring check.
func streamError(line []byte) error {
	if !bytes.Contains(line, []byte(`"code":`)) {
		return nil
	}
	var e api.ErrorBody
	if json.Unmarshal(line, &e) != nil || e.Code == "" || e.Message == "" {
		return nil
	}
	return &APIError{Status: http.StatusInternalServerError, Body: e}
}

// stream opens a long-lived NDJSON stream and calls fn for each line until
// the stream ends, ctx ends, or fn returns an error.
func stream[T any](ctx context.Context, b base, path string, fn func(T) error) error {
	resp, err := b.send(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := streamError(line); err != nil {
			return err
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("decode stream %s: %w", path, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stream %s: %w", path, err)
	}
	return io.ErrUnexpectedEOF
}
