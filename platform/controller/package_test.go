package controller_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/store"
)

func TestController_Create_CodeTooLarge(t *testing.T) {
	const limit = 1024
	ts := newTestServer(t, controller.Config{MaxCodeBytes: limit})
	mustCreate(t, ts.Client, newEnv("default", "python"))

	tests := []struct {
		name       string
		size       int
		wantStatus int
	}{
		{"AtLimit", limit, http.StatusCreated},
		{"OverLimit", limit + 1, http.StatusRequestEntityTooLarge},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := newFn("", "f"+strconv.Itoa(i), "python", bytes.Repeat([]byte("a"), tt.size))
			resp := ts.doString(t, http.MethodPost, "/v1/namespaces/default/functions", jsonOf(t, fn))
			if got, want := resp.Status, tt.wantStatus; got != want {
				t.Fatalf("status: got %d, want %d (body %s)", got, want, resp.Body)
			}
			if tt.wantStatus != http.StatusCreated {
				eb := resp.errorBody(t)
				if got, want := eb.Field, "code.data"; got != want {
					t.Errorf("field: got %q, want %q", got, want)
				}
				if got, want := eb.Code, "too_large"; got != want {
					t.Errorf("code: got %q, want %q", got, want)
				}
			}
		})
	}

	// A request body over the transport limit is refused before decoding,
	// with or without a Content-Length.
	huge := jsonOf(t, newFn("", "huge", "python", bytes.Repeat([]byte("a"), 2<<20)))
	bodies := []struct {
		name string
		body io.Reader
	}{
		{"BodyContentLength", strings.NewReader(huge)},
		{"BodyChunked", io.MultiReader(strings.NewReader(huge))},
	}
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(t, http.MethodPost, "/v1/namespaces/default/functions", tt.body)
			if got, want := resp.Status, http.StatusRequestEntityTooLarge; got != want {
				t.Errorf("status: got %d, want %d (body %.200s)", got, want, resp.Body)
			}
		})
	}
}

func TestController_Create_Zip(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	mustCreate(t, ts.Client, newEnv("default", "python"))

	tests := []struct {
		name        string
		entries     map[string]string
		wantStatus  int
		wantArchive bool
	}{
		{"OK", map[string]string{"main.py": "x", "lib/util.py": "y"}, http.StatusCreated, true},
		{"DotDot", map[string]string{"main.py": "x", "../evil": "y"}, http.StatusBadRequest, false},
		{"NestedDotDot", map[string]string{"a/../../evil": "y"}, http.StatusBadRequest, false},
		{"Absolute", map[string]string{"/etc/evil": "y"}, http.StatusBadRequest, false},
		{"BackslashDotDot", map[string]string{`..\evil`: "y"}, http.StatusBadRequest, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := newFn("", "f"+strconv.Itoa(i), "python", zipOf(t, tt.entries))
			fn.Code.Filename = "fn.zip"
			resp := ts.doString(t, http.MethodPost, "/v1/namespaces/default/functions", jsonOf(t, fn))
			if got, want := resp.Status, tt.wantStatus; got != want {
				t.Fatalf("status: got %d, want %d (body %s)", got, want, resp.Body)
			}
			if tt.wantStatus == http.StatusBadRequest {
				if got, want := resp.errorBody(t).Field, "code.data"; got != want {
					t.Errorf("field: got %q, want %q", got, want)
				}
				return
			}
			var got api.Function
			if err := ts.Client.Get(t.Context(), "default", fn.Metadata.Name, &got); err != nil {
				t.Fatal(err)
			}
			if got.Spec.Package.Archive != tt.wantArchive {
				t.Errorf("package.archive: got %v, want %v", got.Spec.Package.Archive, tt.wantArchive)
			}
		})
	}
}

func TestController_Package(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	code := append(zipOf(t, map[string]string{"main.py": "print(1)"}), 0) // trailing byte: must survive as is
	fn := newFn("default", "hello", "python", code)
	fn.Code.Filename = "fn.zip"
	mustCreate(t, ts.Client, newEnv("default", "python"), fn)
	sum := sha256.Sum256(code)
	wantSum := hex.EncodeToString(sum[:])

	resp := ts.do(t, http.MethodGet, "/v1/namespaces/default/functions/hello/package", nil)
	if got, want := resp.Status, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	if !bytes.Equal(resp.Body, code) {
		t.Errorf("package: got %d bytes, want the %d uploaded bytes", len(resp.Body), len(code))
	}
	if got := resp.Header.Get("X-Lantern-Checksum"); got != wantSum {
		t.Errorf("X-Lantern-Checksum: got %q, want %q", got, wantSum)
	}
	gotSum := sha256.Sum256(resp.Body)
	if got := hex.EncodeToString(gotSum[:]); got != wantSum {
		t.Errorf("sha256 of download: got %s, want %s", got, wantSum)
	}

	rc, err := ts.Client.Package(t.Context(), "default", "hello")
	if err != nil {
		t.Fatalf("client Package: got %v, want nil", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, code) {
		t.Errorf("client Package: got %d bytes, want the %d uploaded bytes", len(b), len(code))
	}
}

func TestController_Delete_PackageBlobs(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	c, ctx := ts.Client, t.Context()
	blob := func(code string) error {
		sum := sha256.Sum256([]byte(code))
		_, err := ts.store.GetBlob(ctx, hex.EncodeToString(sum[:]))
		return err
	}
	mustCreate(t, c, newEnv("default", "python"),
		newFn("default", "hello", "python", []byte("v1")), newFn("default", "twin", "python", []byte("shared")))
	if err := c.Update(ctx, newFn("default", "hello", "python", []byte("v2"))); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, newFn("default", "hello", "python", []byte("shared"))); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, api.KindFunction, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		code    string
		wantErr error
	}{
		{"SharedWithAnotherFunction", "shared", nil},
		// No function can ever reference these again.
		{"FirstVersion", "v1", store.ErrNotFound},
		{"SecondVersion", "v2", store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := blob(tt.code); !errors.Is(err, tt.wantErr) {
				t.Errorf("GetBlob(%s) after deleting the function: got %v, want %v", tt.code, err, tt.wantErr)
			}
		})
	}
}
