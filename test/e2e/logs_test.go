package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
)

// TestFunctionLogs checks that every line a function prints comes back from
// the logs API and the CLI, in order per instance, tagged with the request
// that printed it, and that follow shows a new line within a second.
func TestFunctionLogs(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "3")
	l.mustLantern(t, "fn", "create", "--name", "numbered", "--env", "python", "--code", fixture("python", "numbered.py"))

	// 12 calls, 3 at a time, so several instances serve them.
	const calls, lines = 12, 5
	requestIDs := make([]string, calls)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	for c := 0; c < calls; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := tryDo(http.MethodGet, fmt.Sprintf("%s/fn/default/numbered?call=%d&lines=%d", l.RouterURL, c, lines), nil)
			if err != nil || r.Status != http.StatusOK {
				t.Errorf("call %d: %v %v", c, r, err)
				return
			}
			requestIDs[c] = r.Header.Get("X-Lantern-Request-Id")
		}()
	}
	wg.Wait()

	want := calls * lines * 2
	var recs []api.LogRecord
	eventually(t, 10*time.Second, 100*time.Millisecond, "every printed line is stored", func() error {
		var err error
		recs, err = l.Client.Logs(context.Background(), "default", "numbered", url.Values{"limit": {"1000"}})
		if err != nil {
			return err
		}
		if len(recs) < want {
			return fmt.Errorf("got %d lines, want %d", len(recs), want)
		}
		return nil
	})
	if len(recs) != want {
		t.Fatalf("got %d lines, want exactly %d (none twice)", len(recs), want)
	}
	// Per call and stream, lines come in order, on one instance, tagged
	// with the call's request ID.
	next := map[string]int{}
	instanceOf := map[int]string{}
	for _, r := range recs {
		var call, i int
		var stream string
		if _, err := fmt.Sscanf(r.Message, "call %d %s line %d", &call, &stream, &i); err != nil {
			t.Fatalf("unexpected line %q", r.Message)
		}
		if stream != r.Stream {
			t.Errorf("line %q came on %s", r.Message, r.Stream)
		}
		key := fmt.Sprintf("%d/%s", call, stream)
		if i != next[key] {
			t.Errorf("call %d %s: got line %d, want %d (out of order)", call, stream, i, next[key])
		}
		next[key] = i + 1
		if inst, ok := instanceOf[call]; ok && inst != r.Instance {
			t.Errorf("call %d printed on two instances: %s and %s", call, inst, r.Instance)
		}
		instanceOf[call] = r.Instance
		if r.RequestID != requestIDs[call] {
			t.Errorf("line %q: request ID %q, want the call's %q", r.Message, r.RequestID, requestIDs[call])
		}
		if r.Function != "numbered" || r.Namespace != "default" {
			t.Errorf("line %q tagged %s/%s", r.Message, r.Namespace, r.Function)
		}
	}

	// Filters: one request's lines only, and the CLI shows them.
	one, err := l.Client.Logs(context.Background(), "default", "numbered", url.Values{"request_id": {requestIDs[3]}, "limit": {"100"}})
	if err != nil || len(one) != 2*lines {
		t.Errorf("request_id filter: got %d lines (%v), want %d", len(one), err, 2*lines)
	}
	out := l.mustLantern(t, "fn", "logs", "--name", "numbered", "--request-id", requestIDs[5], "--stream", "stdout")
	for i := 0; i < lines; i++ {
		wantContains(t, "fn logs --request-id", out, fmt.Sprintf("call 5 stdout line %d", i))
	}
	if strings.Contains(out, "call 6 ") || strings.Contains(out, "stderr line") {
		t.Errorf("fn logs --request-id --stream stdout showed other lines:\n%s", out)
	}

	// Bad queries are 400s naming the parameter; unknown functions 404.
	if e := l.apiRaw(t, http.MethodGet, "/v1/namespaces/default/functions/numbered/logs?limit=0", ""); e.Status != 400 || e.Field != "limit" {
		t.Errorf("limit=0: got %d %+v, want 400 naming limit", e.Status, e.ErrorBody)
	}
	if e := l.apiRaw(t, http.MethodGet, "/v1/namespaces/default/functions/numbered/logs?since=yesterday", ""); e.Status != 400 || e.Field != "since" {
		t.Errorf("since=yesterday: got %d %+v, want 400 naming since", e.Status, e.ErrorBody)
	}
	if e := l.apiRaw(t, http.MethodGet, "/v1/namespaces/default/functions/nope/logs", ""); e.Status != 404 {
		t.Errorf("unknown function: got %d, want 404", e.Status)
	}

	// Follow: a new line shows within a second.
	cmd := exec.Command(filepath.Join(binDir, "lantern"), "fn", "logs", "--name", "numbered", "-f", "--recordcount", "1")
	cmd.Env = append(withoutLanternEnv(), "LANTERN_URL="+l.APIURL, "GORACE=atexit_sleep_ms=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	seen := make(chan time.Time, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "call follow stdout line 0") {
				seen <- time.Now()
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // let it connect
	sent := time.Now()
	l.get(t, "/fn/default/numbered?call=follow&lines=1")
	select {
	case at := <-seen:
		if d := at.Sub(sent); d > time.Second {
			t.Errorf("follow showed the new line after %s, want within 1 s", d)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("follow did not show the new line within 5 s")
	}
}
