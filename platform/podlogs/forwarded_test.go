package podlogs

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/logs"
)

func TestParseTag(t *testing.T) {
	tests := []struct {
		path         string
		ns, pod, uid string
		ok           bool
	}{
		{"var.log.pods.lantern_lantern-python-1a2b_0f3c-44-aa.runtime.0.log", "lantern", "lantern-python-1a2b", "0f3c-44-aa", true},
		{"srv.pods.lantern_lantern-x_u.runtime.3.log.20261127-070000", "lantern", "lantern-x", "u", true},
		{"var.log.pods.lantern_lantern-x_u.fetcher.0.log", "", "", "", false},
		{"var.log.containers.lantern-x_lantern_runtime-abc.log", "", "", "", false},
	}
	for _, tt := range tests {
		ns, pod, uid, ok := parseTag(tt.path)
		if ns != tt.ns || pod != tt.pod || uid != tt.uid || ok != tt.ok {
			t.Errorf("parseTag(%q): got %q %q %q %v, want %q %q %q %v", tt.path, ns, pod, uid, ok, tt.ns, tt.pod, tt.uid, tt.ok)
		}
	}
}

// TestForwarded: lines Fluentd forwards are attributed by their time
// against the pod's mark; those of a pod not marked wait for the mark, or
// for Settle; other tags pass.
func TestForwarded(t *testing.T) {
	f := NewForwarded("lantern", time.Hour, func(context.Context, []logs.Record) error { return nil }, nil, nil)
	now := time.Now().UTC()
	since := now.Add(-time.Minute)
	a := poolPod("a", "a", "", time.Time{})
	f.Update(a)
	tag := TagPrefix + "var.log.pods.lantern_a_uid-a.runtime.0.log"
	line := func(at time.Time, msg string) logs.Record {
		return logs.Record{Time: at, Stream: "stdout", Message: msg}
	}
	show := func(recs []logs.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, fmt.Sprintf("%s/%s: %s", r.Function, r.Instance, r.Message))
		}
		return out
	}
	got := f.Rewrite(tag, []logs.Record{line(now.Add(-2*time.Hour), "pool start"), line(since.Add(-time.Second), "pool late"), line(since, "fn first")})
	if want := []string{"/python-a: pool start"}; !slices.Equal(show(got), want) {
		t.Fatalf("before the mark: got %v, want %v (the recent lines wait)", show(got), want)
	}
	if got := f.release(time.Now()); len(got) != 0 {
		t.Fatalf("released before the mark: %v", show(got))
	}
	f.Update(poolPod("a", "a", "hello", since))
	got = f.release(time.Now())
	if want := []string{"/python-a: pool late", "hello/python-a: fn first"}; !slices.Equal(show(got), want) {
		t.Fatalf("released after the mark: got %v, want %v", show(got), want)
	}
	got = f.Rewrite(tag, []logs.Record{line(now, "fn second")})
	if want := []string{"hello/python-a: fn second"}; !slices.Equal(show(got), want) {
		t.Fatalf("after the mark: got %v, want %v", show(got), want)
	}
	if got[0].Seq != 4 || !got[0].Time.Equal(now) {
		t.Errorf("numbering: got seq %d time %v, want the fourth line and its time", got[0].Seq, got[0].Time)
	}
	// A pod never marked: its lines go on as the environment's after Settle.
	b := poolPod("b", "b", "", time.Time{})
	f.Update(b)
	f.Rewrite(TagPrefix+"var.log.pods.lantern_b_uid-b.runtime.0.log", []logs.Record{line(now, "b waits")})
	if got := show(f.release(now.Add(2 * time.Hour))); !slices.Equal(got, []string{"/python-b: b waits"}) {
		t.Fatalf("after Settle: got %v", got)
	}
	// Other tags pass as they are.
	other := []logs.Record{{Instance: "x", Message: "as is"}}
	if got := f.Rewrite("lantern.function", other); len(got) != 1 || got[0].Message != "as is" {
		t.Fatalf("another tag: got %+v", got)
	}
}
