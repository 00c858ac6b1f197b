package cli

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Run("Reachable", func(t *testing.T) {
		srv := newFakeServer(t)
		res := mustRun(t, srv.URL, "version")
		if !strings.Contains(res.stdout, "Client:") || !strings.Contains(res.stdout, "Server:   1.2.3") {
			t.Errorf("stdout = %q", res.stdout)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		down := httptest.NewServer(nil)
		down.Close()
		res := mustRun(t, down.URL, "version", "-o", "json")
		var v versions
		if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, res.stdout)
		}
		if v.Client == "" || v.Server != "" || !strings.Contains(v.ServerError, "cannot reach the server") {
			t.Errorf("got %+v", v)
		}
	})
}
