package logstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/logs"
)

// FollowLatency is how soon a written record must reach a follower.
const FollowLatency = time.Second

// follow runs Follow in the background and returns a channel of what it
// delivers.
func follow(t *testing.T, s Store, q logs.Query, fn func(logs.Record)) (<-chan logs.Record, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan logs.Record, 100000)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, q, func(r logs.Record) error {
			if fn != nil {
				fn(r)
			}
			ch <- r
			return nil
		})
	}()
	stop := func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Follow: %v", err)
		}
	}
	t.Cleanup(stop)
	return ch, stop
}

func receive(t *testing.T, ch <-chan logs.Record, n int, within time.Duration) []logs.Record {
	t.Helper()
	var got []logs.Record
	deadline := time.After(within)
	for len(got) < n {
		select {
		case r := <-ch:
			got = append(got, r)
		case <-deadline:
			t.Fatalf("received %d of %d records within %v", len(got), n, within)
		}
	}
	return got
}

func testFollow(t *testing.T, s Store) {
	data := Dataset()
	write(t, s, data)
	q := logs.Query{Namespace: "default", Function: "hello", Limit: 3, Stream: logs.StreamStdout}
	ch, _ := follow(t, s, q, nil)

	backlog := receive(t, ch, 3, 10*time.Second)
	want := Expect(data, logs.Query{Namespace: "default", Function: "hello", Limit: 3, Stream: logs.StreamStdout, Desc: true})
	want[0], want[2] = want[2], want[0]
	if diff := cmp.Diff(want, backlog); diff != "" {
		t.Errorf("backlog (-want +got):\n%s", diff)
	}

	last := data[35]
	next := []logs.Record{
		{Time: last.Time.Add(time.Second), Namespace: "default", Function: "other", Instance: "other-a",
			Stream: logs.StreamStdout, Message: "not followed: other function", Seq: 100},
		{Time: last.Time.Add(time.Second), Namespace: "default", Function: "hello", Instance: "hello-a",
			Stream: logs.StreamStderr, Message: "not followed: stderr", Seq: 100},
		{Time: last.Time.Add(time.Second), Namespace: "default", Function: "hello", Instance: "hello-b",
			Stream: logs.StreamStdout, Message: "followed", Seq: 100},
	}
	start := time.Now()
	write(t, s, next)
	got := receive(t, ch, 1, FollowLatency)
	t.Logf("follow latency %v", time.Since(start))
	if diff := cmp.Diff(next[2:], got); diff != "" {
		t.Errorf("pushed (-want +got):\n%s", diff)
	}
	select {
	case r := <-ch:
		t.Errorf("unexpected record %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
}

// testFollowCatchUp makes a follower fall more than its buffer behind: it
// must still get every record once, in order.
func testFollowCatchUp(t *testing.T, s Store) {
	write(t, s, Dataset()[:1])
	release := make(chan struct{})
	q := logs.Query{Namespace: "default", Function: "hello", Limit: 1}
	var blocked bool
	ch, _ := follow(t, s, q, func(logs.Record) {
		if !blocked {
			blocked = true
			<-release // hold the follower while the burst is written
		}
	})
	const n = 6000
	burst := make([]logs.Record, n)
	for i := range burst {
		burst[i] = logs.Record{Time: Base.Add(time.Hour + time.Duration(i)*time.Microsecond), Namespace: "default",
			Function: "hello", Instance: "burst", Stream: logs.StreamStdout, Message: fmt.Sprintf("burst %d", i), Seq: uint64(i + 1)}
	}
	time.Sleep(50 * time.Millisecond) // let Follow subscribe and block on the backlog record
	write(t, s, burst)
	close(release)
	got := receive(t, ch, n+1, 30*time.Second)
	if diff := cmp.Diff(burst, got[1:]); diff != "" {
		t.Errorf("after catch-up (-want +got):\n%s", diff)
	}
	select {
	case r := <-ch:
		t.Errorf("delivered twice: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
}
