package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/api/runtime"
)

// SpecializeError is a runtime's refusal to load a function: the function's
// own fault (syntax error, missing entrypoint), not worth retrying.
type SpecializeError struct {
	Status int
	// Body is what the runtime said, usually the error and a traceback.
	Body string
}

func (e *SpecializeError) Error() string {
	return fmt.Sprintf("runtime refused the function (status %d): %s", e.Status, e.Body)
}

// Specializer calls the specialize endpoint of runtimes.
type Specializer struct{ hc *http.Client }

// NewSpecializer returns a specializer using hc (nil for a default client).
func NewSpecializer(hc *http.Client) *Specializer {
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 10 * time.Second}}
	}
	return &Specializer{hc: hc}
}

// Specialize loads fn, whose code is at path, into the instance at addr.
// Connection errors are retried until ctx ends; any answer is final.
func (s *Specializer) Specialize(ctx context.Context, addr string, fn *api.Function, env *api.Environment, path string) error {
	url, body := "http://"+addr+runtime.PathSpecializeV2, []byte(nil)
	if env.Spec.Version == 1 {
		url = "http://" + addr + runtime.PathSpecializeV1
	} else {
		req := runtime.LoadRequest{
			FilePath:     path,
			FunctionName: fn.Spec.Entrypoint,
			FunctionMetadata: &runtime.FunctionMetadata{
				Name: fn.Metadata.Name, Namespace: fn.Metadata.Namespace,
				UID: fn.Metadata.UID, ResourceVersion: fn.Metadata.ResourceVersion,
			},
			EnvVersion: env.Spec.Version,
		}
		var err error
		if body, err = json.Marshal(req); err != nil {
			return err
		}
	}
	backoff := 2 * time.Millisecond
	for {
		err := s.post(ctx, url, body)
		if err == nil || !isDialError(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("specialize: runtime at %s not reachable (%v): %w", addr, err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

func (s *Specializer) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	if resp.StatusCode >= 300 {
		return &SpecializeError{Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	return nil
}

func isDialError(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
