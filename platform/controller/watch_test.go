package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/controller"
)

// watchEvent is an event reduced to what the test compares.
type watchEvent struct {
	Type            api.EventType
	Kind            string
	Name            string
	ResourceVersion string
}

// startWatch watches ts and returns the events as they arrive.
func startWatch(t *testing.T, ts *testServer) <-chan watchEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out := make(chan watchEvent, 100)
	done := make(chan error, 1)
	go func() {
		done <- ts.Client.Watch(ctx, func(ev api.Event) error {
			we := watchEvent{Type: ev.Type, Kind: ev.Kind}
			if ev.Type != api.EventSynced {
				var obj struct{ Metadata api.Metadata }
				if err := json.Unmarshal(ev.Object, &obj); err != nil {
					return err
				}
				we.Name, we.ResourceVersion = obj.Metadata.Name, obj.Metadata.ResourceVersion
			}
			out <- we
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch after cancel: got %v, want context.Canceled", err)
		}
	})
	return out
}

// next returns the next n events, failing after a timeout.
func next(t *testing.T, events <-chan watchEvent, n int) []watchEvent {
	t.Helper()
	var got []watchEvent
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("watch events: got %+v, want %d events", got, n)
		}
	}
	return got
}

func TestController_Watch(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	c, ctx := ts.Client, t.Context()
	env := newEnv("default", "python")
	fn := newFn("default", "hello", "python", []byte("x"))
	mustCreate(t, c, env, fn)

	events := startWatch(t, ts)
	want := []watchEvent{
		{api.EventAdded, api.KindEnvironment, "python", env.Metadata.ResourceVersion},
		{api.EventAdded, api.KindFunction, "hello", fn.Metadata.ResourceVersion},
		{Type: api.EventSynced},
	}
	if diff := cmp.Diff(want, next(t, events, len(want))); diff != "" {
		t.Fatalf("initial events (-want +got):\n%s", diff)
	}

	upd := newFn("default", "hello", "python", []byte("y"))
	if err := c.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	updEnv := newEnv("default", "python")
	updEnv.Spec.Poolsize = 1
	if err := c.Update(ctx, updEnv); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, api.KindFunction, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	got := next(t, events, 3)
	want = []watchEvent{
		{api.EventModified, api.KindFunction, "hello", upd.Metadata.ResourceVersion},
		{api.EventModified, api.KindEnvironment, "python", updEnv.Metadata.ResourceVersion},
		{api.EventDeleted, api.KindFunction, "hello", got[2].ResourceVersion},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("change events (-want +got):\n%s", diff)
	}
	// The deletion consumed a version after the last update.
	if del, last := rv(t, got[2].ResourceVersion), rv(t, updEnv.Metadata.ResourceVersion); del <= last {
		t.Errorf("DELETED resourceVersion: got %d, want more than %d", del, last)
	}

	// A second watcher sees the state as it is now.
	want = []watchEvent{
		{api.EventAdded, api.KindEnvironment, "python", updEnv.Metadata.ResourceVersion},
		{Type: api.EventSynced},
	}
	if diff := cmp.Diff(want, next(t, startWatch(t, ts), len(want))); diff != "" {
		t.Errorf("second watch initial events (-want +got):\n%s", diff)
	}
	select {
	case ev := <-events:
		t.Errorf("first watch after its last change: got %+v, want no event", ev)
	default:
	}
}
