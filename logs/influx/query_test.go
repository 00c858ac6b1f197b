package influx

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/logs"
)

func TestBuildInfluxQL(t *testing.T) {
	since := time.Unix(10, 0)
	q := logs.Query{Namespace: "default", Function: `he"llo`, Since: since, Limit: 20, Instance: "i-1",
		Contains: "a.b(c)", Desc: true}
	stmt, params := buildInfluxQL(q)
	want := `SELECT "message","request_id","trace_id","seq","environment","instance","stream" FROM "function_log" ` +
		`WHERE "namespace" = $namespace AND "function" = $function AND time >= $since AND "instance" = $instance ` +
		`AND "message" =~ $contains ORDER BY time DESC LIMIT 20`
	if stmt != want {
		t.Errorf("statement\n got %s\nwant %s", stmt, want)
	}
	wantParams := map[string]any{"namespace": "default", "function": `he"llo`, "since": int64(10e9),
		"instance": "i-1", "contains": map[string]any{"regex": `a\.b\(c\)`}}
	if diff := cmp.Diff(wantParams, params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
}

func TestFluxString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello-1", `"hello-1"`},
		{`a"b`, `"a\x22b"`},
		{`${x}\`, `"\x24\x7bx\x7d\x5c"`},
		{"é", `"\xc3\xa9"`},
	}
	for _, tt := range tests {
		if got := fluxString(tt.in); got != tt.want {
			t.Errorf("fluxString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if f := buildFlux("db/autogen", logs.Query{Namespace: "n", Function: "f", Limit: 5}); !strings.Contains(f, "|> group()\n  |> sort") {
		t.Errorf("flux query lacks a global sort before limit:\n%s", f)
	}
}
