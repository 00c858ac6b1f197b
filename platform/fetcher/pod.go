package fetcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/lantern-faas/lantern/platform/api"
)

// FetchRequest asks a fetcher sidecar to place a function's package in its
// code folder.
type FetchRequest struct {
	Function    *api.Function    `json:"function"`
	Environment *api.Environment `json:"environment"`
}

// FetchResponse is where the sidecar placed the package: the path to give
// the runtime (both containers see the code folder at the same path).
type FetchResponse struct {
	Path string `json:"path"`
}

// Handler serves a fetcher sidecar: POST /v1/fetch fetches into codeDir;
// GET /healthz answers ok.
func (f *Fetcher) Handler(codeDir string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /v1/fetch", func(w http.ResponseWriter, r *http.Request) {
		var req FetchRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Function == nil || req.Environment == nil {
			http.Error(w, fmt.Sprintf("want {function, environment} as JSON (%v)", err), http.StatusBadRequest)
			return
		}
		path, err := f.Fetch(r.Context(), req.Function, req.Environment, codeDir)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(FetchResponse{Path: path})
	})
	return mux
}

// PodLoader loads code into pool pods: Fetch asks the pod's fetcher sidecar
// (its URL is the instance's code folder, see kubepods), Specialize calls
// the runtime contract as for local instances.
type PodLoader struct {
	*Specializer
}

// NewPodLoader returns a loader using hc (http.DefaultClient when nil).
func NewPodLoader(hc *http.Client) *PodLoader {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &PodLoader{Specializer: NewSpecializer(hc)}
}

// Fetch asks the fetcher sidecar at fetcherURL to place fn's package.
func (l *PodLoader) Fetch(ctx context.Context, fn *api.Function, env *api.Environment, fetcherURL string) (string, error) {
	body, err := json.Marshal(FetchRequest{Function: fn, Environment: env})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fetcherURL+"/v1/fetch", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetcher sidecar: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetcher sidecar: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var out FetchResponse
	if err := json.Unmarshal(data, &out); err != nil || out.Path == "" {
		return "", fmt.Errorf("fetcher sidecar answered %q: %v", data, err)
	}
	return out.Path, nil
}
