package e2e

import (
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/test/testenv"
)

// burst sends n simultaneous GETs to path and returns the answers.
func burst(t *testing.T, l *lanternd, n int, path string) []response {
	t.Helper()
	out := make([]response, n)
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	startGun := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-startGun
			out[i], errs[i] = tryDo(http.MethodGet, l.RouterURL+path, nil)
		}()
	}
	ready.Wait()
	close(startGun)
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d of %d: %v", i+1, n, err)
		}
	}
	return out
}

var exactPID = regexp.MustCompile(`^pid=(\d+)\n$`)

// pids checks that every answer is a 200 "pid=N" and returns the distinct
// pids.
func pids(t *testing.T, rs []response) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for i, r := range rs {
		m := exactPID.FindStringSubmatch(r.Body)
		if r.Status != http.StatusOK || m == nil {
			t.Errorf("call %d of %d: got %s, want 200 %q", i+1, len(rs), r, "pid=N\n")
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		seen[pid]++
	}
	return seen
}

// TestColdStartBurst sends simultaneous first calls to fresh functions: all
// of them are answered, and with many requests per instance they share
// few instances.
func TestColdStartBurst(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python")

	t.Run("20 first calls, one request per instance", func(t *testing.T) {
		l.mustLantern(t, "fn", "create", "--name", "burst", "--env", "python", "--code", fixture("python", "pid.py"), "--requestsperpod", "1")
		start := time.Now()
		rs := burst(t, l, 20, "/fn/default/burst?sleep=0.2")
		seen := pids(t, rs)
		t.Logf("20 calls answered in %v by %d instance(s)", time.Since(start).Round(time.Millisecond), len(seen))
		for pid, n := range seen {
			if ppid := testenv.ParentPID(pid); ppid != l.PID() && describePID(pid) != "gone" {
				t.Errorf("pid %d (%d calls) is not a child of lanternd (%d) but of %d", pid, n, l.PID(), ppid)
			}
		}
	})
	t.Run("10 first calls, 100 requests per instance", func(t *testing.T) {
		l.mustLantern(t, "fn", "create", "--name", "shared", "--env", "python", "--code", fixture("python", "pid.py"), "--requestsperpod", "100")
		start := time.Now()
		rs := burst(t, l, 10, "/fn/default/shared?sleep=0.2")
		seen := pids(t, rs)
		t.Logf("10 calls answered in %v by instances %v", time.Since(start).Round(time.Millisecond), seen)
		if len(seen) > 2 {
			t.Errorf("10 simultaneous calls with --requestsperpod 100 were served by %d instances %v, want at most 2", len(seen), seen)
		}
	})
	if err := l.Alive(); err != nil {
		t.Fatal(err)
	}
}
