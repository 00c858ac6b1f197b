package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// record is one call seen by the record.py fixture.
type record struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Body    string            `json:"body"`
	Headers map[string]string `json:"headers"`
	Attempt int               `json:"attempt"`
}

// readRecords reads what record.py wrote to path.
func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line being written
		}
		out = append(out, r)
	}
	return out
}

// recordFunction creates a python environment and the record.py function
// "record" writing its calls to the returned file.
func recordFunction(t *testing.T, l *lanternd) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "calls.jsonl")
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "1", "--env", "LANTERN_E2E_RECORD="+path)
	l.mustLantern(t, "fn", "create", "--name", "record", "--env", "python", "--code", fixture("python", "record.py"))
	return path
}

// timerTicks returns the ticks of the timer calls in recs, failing on a
// tick fired twice.
func timerTicks(t *testing.T, recs []record) []time.Time {
	t.Helper()
	seen := map[string]bool{}
	var out []time.Time
	for _, r := range recs {
		tick := r.Headers["X-Lantern-Timer-Tick"]
		if seen[tick] {
			t.Errorf("tick %s fired twice", tick)
		}
		seen[tick] = true
		tm, err := time.Parse(time.RFC3339Nano, tick)
		if err != nil {
			t.Errorf("call without a valid tick header: %+v", r)
		}
		out = append(out, tm)
	}
	return out
}

// TestTimer_FiresSurvivesRestart creates a timer with the CLI, sees it
// call the function through the router every second with the timer's
// headers and metrics, restarts lanternd and checks that no tick fired
// twice, then deletes the timer and sees the calls stop.
func TestTimer_FiresSurvivesRestart(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	calls := recordFunction(t, l)

	_, stderr, code := l.lantern(t, "timer", "create", "--name", "bad", "--function", "record", "--cron", "*/5 * *")
	if code != 1 || !strings.Contains(stderr, "spec.cron") || !strings.Contains(stderr, "expected 5 to 6 fields") {
		t.Errorf("bad cron: exit %d, stderr %q; want 1 naming spec.cron with the parser's reason", code, stderr)
	}
	_, stderr, code = l.lantern(t, "timer", "create", "--name", "orphan", "--function", "nope", "--cron", "@hourly")
	if code != 1 || !strings.Contains(stderr, `function "nope" not found`) {
		t.Errorf("unknown function: exit %d, stderr %q", code, stderr)
	}
	out := l.mustLantern(t, "timer", "showschedule", "--cron", "@every 10s", "--round", "3")
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("showschedule printed %d lines, want a header and 3 runs:\n%s", n, out)
	}

	l.mustLantern(t, "timer", "create", "--name", "tick", "--function", "record", "--cron", "* * * * * *", "--method", "GET", "--subpath", "/tick")
	if out := l.mustLantern(t, "timer", "list"); !strings.Contains(out, "tick") || !strings.Contains(out, "* * * * * *") {
		t.Errorf("timer list:\n%s", out)
	}
	eventually(t, 30*time.Second, 200*time.Millisecond, "three timer calls", func() error {
		if n := len(readRecords(t, calls)); n < 3 {
			return fmt.Errorf("%d calls so far", n)
		}
		return nil
	})
	r := readRecords(t, calls)[0]
	if r.Method != "GET" || r.Path != "/tick" || r.Headers["X-Lantern-Trigger"] != "timer" ||
		r.Headers["X-Fission-Timer-Name"] != "tick" || r.Headers["X-Lantern-Request-Id"] == "" {
		t.Errorf("timer call = %+v, want GET /tick with the timer's headers", r)
	}
	metrics := do(t, http.MethodGet, l.APIURL+"/metrics", nil)
	for _, want := range []string{`lantern_function_calls_total{code="200",function="record",method="GET",namespace="default",trigger="timer"}`,
		`lantern_timer_fires_total{namespace="default",outcome="ok",timer="tick"}`, "lantern_timer_jitter_seconds_bucket"} {
		if !strings.Contains(metrics.Body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	l.Restart()
	before := len(readRecords(t, calls))
	eventually(t, 30*time.Second, 200*time.Millisecond, "timer calls after the restart", func() error {
		if n := len(readRecords(t, calls)); n < before+3 {
			return fmt.Errorf("%d calls after the restart", n-before)
		}
		return nil
	})
	ticks := timerTicks(t, readRecords(t, calls))
	for i := 1; i < len(ticks); i++ {
		if !ticks[i].After(ticks[i-1]) {
			t.Errorf("tick %v fired after %v", ticks[i], ticks[i-1])
		}
	}

	l.mustLantern(t, "timer", "delete", "--name", "tick")
	time.Sleep(1500 * time.Millisecond) // a call on its way may still land
	n := len(readRecords(t, calls))
	time.Sleep(2500 * time.Millisecond)
	if got := len(readRecords(t, calls)); got != n {
		t.Errorf("a deleted timer made %d more calls", got-n)
	}
}
