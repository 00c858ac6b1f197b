package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
)

// fakeServer is an in-memory controller API plus a router endpoint
// /fn/{ns}/{name}, just enough for the CLI's commands.
type fakeServer struct {
	URL string

	mu       sync.Mutex
	objects  map[string]map[string][]byte // resource -> ns/name -> JSON
	codes    map[string]*api.Code         // ns/name -> last uploaded code
	requests []request                    // API requests, not router calls
	calls    []request                    // router calls
	rv       int
}

// request is one request the fake received.
type request struct {
	Method string
	Path   string // with the query
	Header http.Header
	Body   []byte
}

// created is the creation time of every object: AGE shows "3m".
var created = time.Now().Add(-3*time.Minute - 5*time.Second)

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{
		objects: map[string]map[string][]byte{"environments": {}, "functions": {}, "httptriggers": {}, "timetriggers": {}, "messagequeuetriggers": {}},
		codes:   map[string]*api.Code{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "1.2.3"})
	})
	mux.HandleFunc("GET /v1/{res}", f.list)
	mux.HandleFunc("GET /v1/namespaces/{ns}/{res}", f.list)
	mux.HandleFunc("POST /v1/namespaces/{ns}/{res}", f.create)
	mux.HandleFunc("GET /v1/namespaces/{ns}/{res}/{name}", f.get)
	mux.HandleFunc("PUT /v1/namespaces/{ns}/{res}/{name}", f.update)
	mux.HandleFunc("DELETE /v1/namespaces/{ns}/{res}/{name}", f.delete)
	mux.HandleFunc("/fn/{ns}/{name}", f.invoke)
	mux.HandleFunc("/fn/{ns}/{name}/{rest...}", f.invoke)
	srv := httptest.NewServer(f.record(mux))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// record keeps every request with its body.
func (f *fakeServer) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		req := request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body}
		f.mu.Lock()
		if strings.HasPrefix(r.URL.Path, "/fn/") {
			f.calls = append(f.calls, req)
		} else {
			f.requests = append(f.requests, req)
		}
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// Requests returns the API requests received so far.
func (f *fakeServer) Requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// Calls returns the router calls received so far.
func (f *fakeServer) Calls() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.calls...)
}

// Last returns the last API request with method.
func (f *fakeServer) Last(t *testing.T, method string) request {
	t.Helper()
	reqs := f.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == method {
			return reqs[i]
		}
	}
	t.Fatalf("no %s request among %d", method, len(reqs))
	return request{}
}

// Code returns the last code uploaded for a function.
func (f *fakeServer) Code(ns, name string) *api.Code {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.codes[ns+"/"+name]
}

// Object decodes a stored object into out and reports whether it exists.
func (f *fakeServer) Object(res, ns, name string, out any) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[res][ns+"/"+name]
	if !ok {
		return false
	}
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return true
}

// validated is an object the fake can default and validate.
type validated interface {
	api.Object
	SetDefaults()
	Validate() error
}

func newObject(res string) validated {
	switch res {
	case "environments":
		return &api.Environment{}
	case "functions":
		return &api.Function{}
	case "httptriggers":
		return &api.HTTPTrigger{}
	case "timetriggers":
		return &api.TimeTrigger{}
	case "messagequeuetriggers":
		return &api.MessageQueueTrigger{}
	}
	return nil
}

func (f *fakeServer) create(w http.ResponseWriter, r *http.Request) {
	f.write(w, r, true)
}

func (f *fakeServer) update(w http.ResponseWriter, r *http.Request) {
	f.write(w, r, false)
}

func (f *fakeServer) write(w http.ResponseWriter, r *http.Request, create bool) {
	res, ns := r.PathValue("res"), r.PathValue("ns")
	obj := newObject(res)
	if obj == nil {
		writeErr(w, http.StatusNotFound, api.ErrorBody{Code: "not_found", Message: "no such resource " + res})
		return
	}
	if err := json.NewDecoder(r.Body).Decode(obj); err != nil {
		writeErr(w, http.StatusBadRequest, api.ErrorBody{Code: "invalid", Message: err.Error()})
		return
	}
	m := obj.GetMetadata()
	if !create && m.Name != r.PathValue("name") {
		writeErr(w, http.StatusBadRequest, api.ErrorBody{Code: "invalid", Field: "metadata.name", Message: "does not match the path"})
		return
	}
	m.Namespace = ns
	obj.SetDefaults()
	if err := obj.Validate(); err != nil {
		var ve *api.ValidationError
		if errors.As(err, &ve) {
			writeErr(w, http.StatusBadRequest, api.ErrorBody{Code: "invalid", Field: ve.Field, Message: ve.Message})
			return
		}
		writeErr(w, http.StatusBadRequest, api.ErrorBody{Code: "invalid", Message: err.Error()})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := ns + "/" + m.Name
	old, exists := f.objects[res][key]
	switch {
	case create && exists:
		writeErr(w, http.StatusConflict, api.ErrorBody{Code: "conflict", Message: fmt.Sprintf("%s %q exists", obj.GetKind(), m.Name)})
		return
	case !create && !exists:
		writeErr(w, http.StatusNotFound, api.ErrorBody{Code: "not_found", Message: fmt.Sprintf("%s %q not found", obj.GetKind(), m.Name)})
		return
	}
	if fn, ok := obj.(*api.Function); ok {
		if _, ok := f.objects["environments"][ns+"/"+fn.Spec.Environment]; !ok {
			writeErr(w, http.StatusNotFound, api.ErrorBody{Code: "not_found", Field: "spec.environment",
				Message: fmt.Sprintf("environment %q not found", fn.Spec.Environment)})
			return
		}
		if !f.storeCode(w, fn, key, create, old) {
			return
		}
	}
	if !create {
		var prev struct{ Metadata api.Metadata }
		_ = json.Unmarshal(old, &prev)
		if m.ResourceVersion != "" && m.ResourceVersion != prev.Metadata.ResourceVersion {
			writeErr(w, http.StatusConflict, api.ErrorBody{Code: "conflict", Message: "resourceVersion changed"})
			return
		}
		m.UID, m.CreatedAt = prev.Metadata.UID, prev.Metadata.CreatedAt
		m.Generation = prev.Metadata.Generation + 1
		m.UpdatedAt = time.Now()
	} else {
		m.UID, m.CreatedAt, m.Generation = "uid-"+m.Name, created, 1
	}
	f.rv++
	m.ResourceVersion = strconv.Itoa(f.rv)
	b, _ := json.Marshal(obj)
	f.objects[res][key] = b
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	writeJSON(w, status, obj)
}

// storeCode moves uploaded code aside and fills the package, as the
// controller does; an update without code keeps the stored package.
func (f *fakeServer) storeCode(w http.ResponseWriter, fn *api.Function, key string, create bool, old []byte) bool {
	if fn.Code == nil {
		if create {
			writeErr(w, http.StatusBadRequest, api.ErrorBody{Code: "invalid", Field: "code", Message: "a function needs code"})
			return false
		}
		var prev api.Function
		_ = json.Unmarshal(old, &prev)
		fn.Spec.Package = prev.Spec.Package
		return true
	}
	sum := sha256.Sum256(fn.Code.Data)
	fn.Spec.Package = api.Package{
		Filename: fn.Code.Filename,
		Checksum: hex.EncodeToString(sum[:]),
		Size:     int64(len(fn.Code.Data)),
		Archive:  strings.HasSuffix(fn.Code.Filename, ".zip"),
	}
	f.codes[key] = fn.Code
	fn.Code = nil
	return true
}

func (f *fakeServer) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	b, ok := f.objects[r.PathValue("res")][r.PathValue("ns")+"/"+r.PathValue("name")]
	f.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusNotFound, api.ErrorBody{Code: "not_found", Message: fmt.Sprintf("%q not found", r.PathValue("name"))})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (f *fakeServer) delete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	objs, key := f.objects[r.PathValue("res")], r.PathValue("ns")+"/"+r.PathValue("name")
	if _, ok := objs[key]; !ok {
		writeErr(w, http.StatusNotFound, api.ErrorBody{Code: "not_found", Message: fmt.Sprintf("%q not found", r.PathValue("name"))})
		return
	}
	delete(objs, key)
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request) {
	ns := r.PathValue("ns")
	f.mu.Lock()
	defer f.mu.Unlock()
	objs, ok := f.objects[r.PathValue("res")]
	if !ok {
		writeErr(w, http.StatusNotFound, api.ErrorBody{Code: "not_found", Message: "no such resource"})
		return
	}
	var out []json.RawMessage
	for key, b := range objs {
		if ns == "" || strings.HasPrefix(key, ns+"/") {
			out = append(out, b)
		}
	}
	if out == nil {
		out = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, out)
}

// invoke is the router: function "fail" answers 500, "slow" sleeps, every
// other one echoes the request.
func (f *fakeServer) invoke(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("name") {
	case "fail":
		http.Error(w, "boom: division by zero", http.StatusInternalServerError)
		return
	case "slow":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s body=%s", r.Method, r.URL.RequestURI(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, body api.ErrorBody) {
	writeJSON(w, status, body)
}

// result is what one run of lantern printed.
type result struct {
	stdout, stderr string
	code           int
}

// lantern runs the CLI against srv (the controller and the router).
func lantern(t *testing.T, srv string, args ...string) result {
	t.Helper()
	env := map[string]string{"LANTERN_URL": srv, "LANTERN_ROUTER_URL": srv}
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), args, strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// mustRun runs lantern and fails the test unless it exits 0.
func mustRun(t *testing.T, srv string, args ...string) result {
	t.Helper()
	res := lantern(t, srv, args...)
	if res.code != 0 {
		t.Fatalf("lantern %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res
}
