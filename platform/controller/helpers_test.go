package controller_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/store/boltstore"
)

// testServer is a controller over a real boltstore, served by httptest.
type testServer struct {
	URL    string
	Client *client.Controller
	srv    *httptest.Server
	store  *boltstore.Store
	path   string // the store's file
	ctrl   *controller.Controller
}

// newTestServer starts a controller with cfg over a fresh store.
func newTestServer(t *testing.T, cfg controller.Config) *testServer {
	t.Helper()
	return openTestServer(t, cfg, filepath.Join(t.TempDir(), "state.db"))
}

// openTestServer starts a controller over the store at path, and stops
// both when the test ends.
func openTestServer(t *testing.T, cfg controller.Config, path string) *testServer {
	t.Helper()
	st, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatalf("boltstore.Open(%s): got %v, want nil", path, err)
	}
	ctrl := controller.New(cfg, st, nil)
	srv := httptest.NewServer(ctrl.Handler())
	ts := &testServer{URL: srv.URL, Client: client.NewController(srv.URL, nil), srv: srv, store: st, path: path, ctrl: ctrl}
	t.Cleanup(ts.Close)
	return ts
}

// Close stops the server, then the store. Closing twice is harmless.
func (ts *testServer) Close() {
	ts.srv.Close()
	ts.store.Close()
}

// response is a raw HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody decodes the error envelope of the answer.
func (r response) errorBody(t *testing.T) api.ErrorBody {
	t.Helper()
	var eb api.ErrorBody
	if err := json.Unmarshal(r.Body, &eb); err != nil {
		t.Fatalf("decode error body %q: got %v, want nil", r.Body, err)
	}
	return eb
}

// do sends a raw request to the test server.
func (ts *testServer) do(t *testing.T, method, path string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: got %v, want nil", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s: got %v, want nil", method, path, err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// doString sends body as a JSON request.
func (ts *testServer) doString(t *testing.T, method, path, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return ts.do(t, method, path, r)
}

func newEnv(ns, name string) *api.Environment {
	return &api.Environment{
		Metadata: api.Metadata{Namespace: ns, Name: name},
		Spec:     api.EnvironmentSpec{Runtime: "python"},
	}
}

func newFn(ns, name, env string, code []byte) *api.Function {
	return &api.Function{
		Metadata: api.Metadata{Namespace: ns, Name: name},
		Spec:     api.FunctionSpec{Environment: env, Entrypoint: "main.main"},
		Code:     &api.Code{Filename: "hello.py", Data: code},
	}
}

func newTrigger(ns, name, fn, url string) *api.HTTPTrigger {
	return &api.HTTPTrigger{
		Metadata: api.Metadata{Namespace: ns, Name: name},
		Spec:     api.HTTPTriggerSpec{RelativeURL: url, FunctionRef: api.FunctionRef{Name: fn}},
	}
}

// mustCreate creates objs in order through the client.
func mustCreate(t *testing.T, c *client.Controller, objs ...api.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("Create %s %s: got %v, want nil", o.GetKind(), o.GetMetadata().Name, err)
		}
	}
}

// zipOf builds a zip archive holding the named entries.
func zipOf(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, content); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
