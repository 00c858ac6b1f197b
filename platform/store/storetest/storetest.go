package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lantern-faas/lantern/platform/store"
)

// timeout bounds every wait for an event or a closed channel.
const timeout = 10 * time.Second

// equateEmpty makes a nil value equal an empty one.
func equateEmpty() cmp.Option { return cmpopts.EquateEmpty() }

// Run runs the contract suite against the stores newStore returns. Each call
// of newStore must return a new, empty store; Run closes it when the subtest
// ends (newStore should release anything else, such as files, with t.Cleanup
// or t.TempDir). Run relies on no buffer size: its watchers keep reading.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	open := func(t *testing.T) store.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: got %v, want nil", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateConflict", testCreateConflict},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"VersionsIncrease", testVersionsIncrease},
		{"List", testList},
		{"ValueIsolation", testValueIsolation},
		{"Blobs", testBlobs},
		{"CancelledContext", testCancelledContext},
		{"Watch", testWatch},
		{"WatchMany", testWatchMany},
		{"WatchCancel", testWatchCancel},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentCAS", testConcurrentCAS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
	}
	// This one closes the store itself.
	t.Run("CloseClosesWatchers", func(t *testing.T) { testCloseClosesWatchers(t, newStore(t)) })
}

func key(kind, namespace, name string) store.Key {
	return store.Key{Kind: kind, Namespace: namespace, Name: name}
}

func keyString(k store.Key) string { return k.Kind + "/" + k.Namespace + "/" + k.Name }

// show formats records and events compactly for failure messages.
func show(v any) string {
	switch v := v.(type) {
	case store.Record:
		return fmt.Sprintf("%s@%d=%q", keyString(v.Key), v.ResourceVersion, v.Value)
	case []store.Record:
		parts := make([]string, len(v))
		for i, r := range v {
			parts[i] = show(r)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case store.Event:
		typ := map[store.EventType]string{store.Put: "Put", store.Deleted: "Deleted"}[v.Type]
		if typ == "" {
			typ = strconv.Itoa(int(v.Type))
		}
		return typ + " " + show(v.Record)
	}
	return fmt.Sprint(v)
}

func mustCreate(t *testing.T, s store.Store, k store.Key, value string) store.Record {
	t.Helper()
	v, err := s.Create(t.Context(), k, []byte(value))
	if err != nil {
		t.Fatalf("Create(%s): got %v, want nil", keyString(k), err)
	}
	return store.Record{Key: k, ResourceVersion: v, Value: []byte(value)}
}

func mustUpdate(t *testing.T, s store.Store, k store.Key, value string, ifVersion uint64) store.Record {
	t.Helper()
	v, err := s.Update(t.Context(), k, []byte(value), ifVersion)
	if err != nil {
		t.Fatalf("Update(%s, %d): got %v, want nil", keyString(k), ifVersion, err)
	}
	return store.Record{Key: k, ResourceVersion: v, Value: []byte(value)}
}

func mustGet(t *testing.T, s store.Store, k store.Key) store.Record {
	t.Helper()
	r, err := s.Get(t.Context(), k)
	if err != nil {
		t.Fatalf("Get(%s): got %v, want nil", keyString(k), err)
	}
	return r
}

func checkRecord(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	if diff := cmp.Diff(want, got, equateEmpty()); diff != "" {
		t.Fatalf("%s: got %s, want %s (-want +got):\n%s", what, show(got), show(want), diff)
	}
}

func checkRecords(t *testing.T, what string, got, want []store.Record) {
	t.Helper()
	if diff := cmp.Diff(want, got, equateEmpty()); diff != "" {
		t.Fatalf("%s: got %s, want %s (-want +got):\n%s", what, show(got), show(want), diff)
	}
}

func testCreateGet(t *testing.T, s store.Store) {
	tests := []struct {
		name  string
		key   store.Key
		value string
	}{
		{"simple", key("function", "default", "hello"), `{"a":1}`},
		{"same name other namespace", key("function", "prod", "hello"), `{"a":2}`},
		{"same name other kind", key("environment", "default", "hello"), `{"a":3}`},
		{"empty value", key("function", "default", "empty"), ``},
		{"binary value", key("function", "default", "binary"), "\x00\xff/\n"},
	}
	var last uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustCreate(t, s, tt.key, tt.value)
			if want.ResourceVersion <= last {
				t.Fatalf("Create(%s) version: got %d, want > %d", keyString(tt.key), want.ResourceVersion, last)
			}
			last = want.ResourceVersion
			checkRecord(t, "Get("+keyString(tt.key)+")", mustGet(t, s, tt.key), want)
		})
	}
	// Every record is still there, untouched by the later creates.
	for _, tt := range tests {
		got := mustGet(t, s, tt.key)
		if string(got.Value) != tt.value {
			t.Errorf("Get(%s) value: got %q, want %q", keyString(tt.key), got.Value, tt.value)
		}
	}
}

func testCreateConflict(t *testing.T, s store.Store) {
	k := key("function", "default", "hello")
	want := mustCreate(t, s, k, "first")
	_, err := s.Create(t.Context(), k, []byte("second"))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second Create(%s): got %v, want %v", keyString(k), err, store.ErrConflict)
	}
	checkRecord(t, "Get after conflicting Create", mustGet(t, s, k), want)
}

func testNotFound(t *testing.T, s store.Store) {
	k := key("function", "default", "missing")
	// Another object of the same name in another kind and namespace must not
	// be found either.
	mustCreate(t, s, key("environment", "default", "missing"), "x")
	mustCreate(t, s, key("function", "other", "missing"), "x")
	tests := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, k); return err }},
		{"Update", func(ctx context.Context) error { _, err := s.Update(ctx, k, []byte("x"), 0); return err }},
		{"UpdateIfVersion", func(ctx context.Context) error { _, err := s.Update(ctx, k, []byte("x"), 1); return err }},
		{"Delete", func(ctx context.Context) error { _, err := s.Delete(ctx, k); return err }},
		{"GetBlob", func(ctx context.Context) error { _, err := s.GetBlob(ctx, "sha256:missing"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(t.Context()); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: got %v, want %v", tt.name, err, store.ErrNotFound)
			}
		})
	}
	// Update must not have created the object.
	if _, err := s.Get(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after failed Updates: got %v, want %v", err, store.ErrNotFound)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	tests := []struct {
		name      string
		ifVersion func(current uint64) uint64
		wantErr   error
	}{
		{"unconditional", func(uint64) uint64 { return 0 }, nil},
		{"current version", func(cur uint64) uint64 { return cur }, nil},
		{"stale version", func(cur uint64) uint64 { return cur - 1 }, store.ErrConflict},
		{"future version", func(cur uint64) uint64 { return cur + 100 }, store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := key("function", "default", strings.ReplaceAll(tt.name, " ", "-"))
			old := mustCreate(t, s, k, "old")
			// Make the object's version differ from its creation version.
			old = mustUpdate(t, s, k, "older", old.ResourceVersion)
			v, err := s.Update(t.Context(), k, []byte("new"), tt.ifVersion(old.ResourceVersion))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Update: got %v, want %v", err, tt.wantErr)
				}
				checkRecord(t, "Get after failed Update", mustGet(t, s, k), old)
				return
			}
			if err != nil {
				t.Fatalf("Update: got %v, want nil", err)
			}
			if v <= old.ResourceVersion {
				t.Fatalf("Update version: got %d, want > %d", v, old.ResourceVersion)
			}
			checkRecord(t, "Get after Update", mustGet(t, s, k), store.Record{Key: k, ResourceVersion: v, Value: []byte("new")})
		})
	}
}

func testDelete(t *testing.T, s store.Store) {
	k := key("function", "default", "hello")
	other := mustCreate(t, s, key("function", "default", "other"), "stays")
	want := mustCreate(t, s, k, "value")
	want = mustUpdate(t, s, k, "updated", 0)
	got, err := s.Delete(t.Context(), k)
	if err != nil {
		t.Fatalf("Delete: got %v, want nil", err)
	}
	checkRecord(t, "Delete", got, want)
	if _, err := s.Get(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: got %v, want %v", err, store.ErrNotFound)
	}
	if _, err := s.Delete(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Delete: got %v, want %v", err, store.ErrNotFound)
	}
	checkRecord(t, "Get other", mustGet(t, s, other.Key), other)
	again := mustCreate(t, s, k, "again")
	if again.ResourceVersion <= want.ResourceVersion {
		t.Fatalf("Create after Delete version: got %d, want > %d", again.ResourceVersion, want.ResourceVersion)
	}
	checkRecord(t, "Get after re-Create", mustGet(t, s, k), again)
}

func testVersionsIncrease(t *testing.T, s store.Store) {
	a, b := key("function", "default", "a"), key("environment", "other", "b")
	var cur uint64
	steps := []struct {
		name string
		op   func() (uint64, error)
	}{
		{"create a", func() (uint64, error) { return s.Create(t.Context(), a, []byte("1")) }},
		{"create b", func() (uint64, error) { return s.Create(t.Context(), b, []byte("1")) }},
		{"update b with version", func() (uint64, error) { return s.Update(t.Context(), b, []byte("2"), cur) }},
		{"update a", func() (uint64, error) { return s.Update(t.Context(), a, []byte("2"), 0) }},
		{"delete a, create a", func() (uint64, error) {
			if _, err := s.Delete(t.Context(), a); err != nil {
				return 0, err
			}
			return s.Create(t.Context(), a, []byte("3"))
		}},
		{"put blob, update a", func() (uint64, error) {
			if err := s.PutBlob(t.Context(), "sha256:x", []byte("x")); err != nil {
				return 0, err
			}
			return s.Update(t.Context(), a, []byte("4"), cur)
		}},
	}
	for _, st := range steps {
		v, err := st.op()
		if err != nil {
			t.Fatalf("%s: got %v, want nil", st.name, err)
		}
		if v <= cur {
			t.Fatalf("%s: got version %d, want > %d", st.name, v, cur)
		}
		cur = v
	}
}

func testList(t *testing.T, s store.Store) {
	created := map[store.Key]store.Record{}
	for _, k := range []store.Key{
		key("function", "ns1", "c"),
		key("function", "ns1", "a"),
		key("function", "ns1", "b"),
		key("function", "ns2", "b"),
		key("function", "ns2", "a"),
		key("function", "ns10", "a"), // "ns1" is a prefix of "ns10"
		key("environment", "ns1", "a"),
		key("functions", "ns1", "z"), // "function" is a prefix of "functions"
	} {
		created[k] = mustCreate(t, s, k, keyString(k))
	}
	recs := func(keys ...store.Key) []store.Record {
		var r []store.Record
		for _, k := range keys {
			r = append(r, created[k])
		}
		return r
	}
	tests := []struct {
		name            string
		kind, namespace string
		want            []store.Record
	}{
		{"one namespace sorted by name", "function", "ns1", recs(
			key("function", "ns1", "a"), key("function", "ns1", "b"), key("function", "ns1", "c"))},
		{"other namespace", "function", "ns2", recs(key("function", "ns2", "a"), key("function", "ns2", "b"))},
		{"namespace that prefixes another", "function", "ns10", recs(key("function", "ns10", "a"))},
		{"all namespaces sorted by name then namespace", "function", "", recs(
			key("function", "ns1", "a"), key("function", "ns10", "a"), key("function", "ns2", "a"),
			key("function", "ns1", "b"), key("function", "ns2", "b"),
			key("function", "ns1", "c"))},
		{"other kind", "environment", "", recs(key("environment", "ns1", "a"))},
		{"kind that extends another", "functions", "", recs(key("functions", "ns1", "z"))},
		{"empty namespace", "function", "nsx", nil},
		{"unknown kind", "trigger", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.List(t.Context(), tt.kind, tt.namespace)
			if err != nil {
				t.Fatalf("List(%q, %q): got %v, want nil", tt.kind, tt.namespace, err)
			}
			checkRecords(t, fmt.Sprintf("List(%q, %q)", tt.kind, tt.namespace), got, tt.want)
		})
	}
}

func testValueIsolation(t *testing.T, s store.Store) {
	k := key("function", "default", "hello")
	in := []byte("original")
	if _, err := s.Create(t.Context(), k, in); err != nil {
		t.Fatalf("Create: got %v, want nil", err)
	}
	copy(in, "XXXXXXXX")
	got := mustGet(t, s, k)
	if string(got.Value) != "original" {
		t.Fatalf("Get after changing Create's value: got %q, want %q", got.Value, "original")
	}
	copy(got.Value, "YYYYYYYY")
	if got := mustGet(t, s, k); string(got.Value) != "original" {
		t.Fatalf("Get after changing Get's value: got %q, want %q", got.Value, "original")
	}
	list, err := s.List(t.Context(), k.Kind, k.Namespace)
	if err != nil || len(list) != 1 {
		t.Fatalf("List: got %d records, %v; want 1, nil", len(list), err)
	}
	copy(list[0].Value, "ZZZZZZZZ")
	if got := mustGet(t, s, k); string(got.Value) != "original" {
		t.Fatalf("Get after changing List's value: got %q, want %q", got.Value, "original")
	}
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	get := func(sum string) ([]byte, error) { return s.GetBlob(ctx, sum) }
	type step struct {
		name    string
		op      func() error
		sum     string // checked with GetBlob after op
		want    []byte // nil with wantErr
		wantErr error
	}
	in := []byte("package one")
	steps := []step{
		{"put", func() error { return s.PutBlob(ctx, "sha256:one", in) }, "sha256:one", []byte("package one"), nil},
		{"caller changes its slice", func() error { copy(in, "XXXXXXX"); return nil }, "sha256:one", []byte("package one"), nil},
		{"put again", func() error { return s.PutBlob(ctx, "sha256:one", []byte("package one")) }, "sha256:one", []byte("package one"), nil},
		{"put another", func() error { return s.PutBlob(ctx, "sha256:two", []byte("package two")) }, "sha256:two", []byte("package two"), nil},
		{"put empty", func() error { return s.PutBlob(ctx, "sha256:empty", nil) }, "sha256:empty", []byte{}, nil},
		{"first unchanged", func() error { return nil }, "sha256:one", []byte("package one"), nil},
		{"delete", func() error { return s.DeleteBlob(ctx, "sha256:one") }, "sha256:one", nil, store.ErrNotFound},
		{"delete again", func() error { return s.DeleteBlob(ctx, "sha256:one") }, "sha256:one", nil, store.ErrNotFound},
		{"delete never stored", func() error { return s.DeleteBlob(ctx, "sha256:never") }, "sha256:never", nil, store.ErrNotFound},
		{"other survives", func() error { return nil }, "sha256:two", []byte("package two"), nil},
		{"put after delete", func() error { return s.PutBlob(ctx, "sha256:one", []byte("package one")) }, "sha256:one", []byte("package one"), nil},
		{"caller changes GetBlob's slice", func() error {
			b, err := get("sha256:two")
			if err != nil {
				return err
			}
			copy(b, "XXXXXXX")
			return nil
		}, "sha256:two", []byte("package two"), nil},
	}
	for _, st := range steps {
		if err := st.op(); err != nil {
			t.Fatalf("%s: got %v, want nil", st.name, err)
		}
		got, err := get(st.sum)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: GetBlob(%s): got %v, want %v", st.name, st.sum, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: GetBlob(%s): got %v, want nil", st.name, st.sum, err)
		}
		if diff := cmp.Diff(st.want, got, equateEmpty()); diff != "" {
			t.Fatalf("%s: GetBlob(%s): got %q, want %q", st.name, st.sum, got, st.want)
		}
	}
	// Blobs are not objects.
	if recs, _, err := s.Watch(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("Watch after blobs: got %d records, %v; want 0, nil", len(recs), err)
	}
}

func testCancelledContext(t *testing.T, s store.Store) {
	k := key("function", "default", "hello")
	mustCreate(t, s, k, "v")
	if err := s.PutBlob(t.Context(), "sha256:x", []byte("x")); err != nil {
		t.Fatalf("PutBlob: got %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		op   func() error
	}{
		{"Create", func() error { _, err := s.Create(ctx, key("function", "default", "new"), nil); return err }},
		{"Update", func() error { _, err := s.Update(ctx, k, nil, 0); return err }},
		{"Get", func() error { _, err := s.Get(ctx, k); return err }},
		{"List", func() error { _, err := s.List(ctx, "function", ""); return err }},
		{"Delete", func() error { _, err := s.Delete(ctx, k); return err }},
		{"PutBlob", func() error { return s.PutBlob(ctx, "sha256:y", []byte("y")) }},
		{"GetBlob", func() error { _, err := s.GetBlob(ctx, "sha256:x"); return err }},
		{"DeleteBlob", func() error { return s.DeleteBlob(ctx, "sha256:x") }},
		{"Watch", func() error { _, _, err := s.Watch(ctx); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: got %v, want %v", tt.name, err, context.Canceled)
			}
		})
	}
	// Nothing changed.
	if got := mustGet(t, s, k); string(got.Value) != "v" {
		t.Fatalf("Get after cancelled Update: got %q, want %q", got.Value, "v")
	}
	if _, err := s.Get(t.Context(), key("function", "default", "new")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of cancelled Create: got %v, want %v", err, store.ErrNotFound)
	}
	if _, err := s.GetBlob(t.Context(), "sha256:x"); err != nil {
		t.Fatalf("GetBlob of cancelled DeleteBlob: got %v, want nil", err)
	}
}

// next returns the next event on ch, failing if none comes or ch is closed.
func next(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel: got closed, want an event")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("watch channel: got nothing after %v, want an event", timeout)
	}
	return store.Event{}
}

// waitClosed drains ch until it is closed, failing if that takes too long.
func waitClosed(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch channel: got open after %v, want closed", timeout)
		}
	}
}

func sortRecords(recs []store.Record) {
	slices.SortFunc(recs, func(a, b store.Record) int { return strings.Compare(keyString(a.Key), keyString(b.Key)) })
}

func testWatch(t *testing.T, s store.Store) {
	a := mustCreate(t, s, key("function", "default", "a"), "a1")
	b := mustCreate(t, s, key("environment", "other", "b"), "b1")
	gone := mustCreate(t, s, key("function", "default", "gone"), "g1")
	if _, err := s.Delete(t.Context(), gone.Key); err != nil {
		t.Fatalf("Delete: got %v, want nil", err)
	}

	snap, ch, err := s.Watch(t.Context())
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	sortRecords(snap)
	checkRecords(t, "Watch snapshot", snap, []store.Record{b, a})

	c := mustCreate(t, s, key("trigger", "default", "c"), "c1")
	a2 := mustUpdate(t, s, a.Key, "a2", a.ResourceVersion)
	if err := s.PutBlob(t.Context(), "sha256:x", []byte("x")); err != nil {
		t.Fatalf("PutBlob: got %v, want nil", err)
	}
	if _, err := s.Update(t.Context(), b.Key, []byte("b2"), b.ResourceVersion+1000); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting Update: got %v, want %v", err, store.ErrConflict)
	}
	if _, err := s.Create(t.Context(), c.Key, []byte("c2")); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("conflicting Create: got %v, want %v", err, store.ErrConflict)
	}
	del, err := s.Delete(t.Context(), b.Key)
	if err != nil {
		t.Fatalf("Delete: got %v, want nil", err)
	}
	d := mustCreate(t, s, key("function", "default", "d"), "d1")

	// A Deleted event carries the key and last value; its version is the
	// deletion's and so exceeds every earlier one.
	want := []store.Event{
		{Type: store.Put, Record: c},
		{Type: store.Put, Record: a2},
		{Type: store.Deleted, Record: del},
		{Type: store.Put, Record: d},
	}
	last := max(a.ResourceVersion, b.ResourceVersion, gone.ResourceVersion)
	for i, w := range want {
		got := next(t, ch)
		if got.Record.ResourceVersion <= last {
			t.Fatalf("event %d %s: got version %d, want > %d", i, show(got), got.Record.ResourceVersion, last)
		}
		last = got.Record.ResourceVersion
		if w.Type == store.Deleted {
			w.Record.ResourceVersion = got.Record.ResourceVersion
		}
		if diff := cmp.Diff(w, got, equateEmpty()); diff != "" {
			t.Fatalf("event %d: got %s, want %s (-want +got):\n%s", i, show(got), show(w), diff)
		}
	}
	select {
	case ev, ok := <-ch:
		t.Fatalf("extra event: got %s (open %v), want none", show(ev), ok)
	case <-time.After(50 * time.Millisecond):
	}
}

func testWatchMany(t *testing.T, s store.Store) {
	const n = 3
	chans := make([]<-chan store.Event, n)
	for i := range chans {
		snap, ch, err := s.Watch(t.Context())
		if err != nil || len(snap) != i {
			t.Fatalf("Watch %d: got %d records, %v; want %d, nil", i, len(snap), err, i)
		}
		chans[i] = ch
		mustCreate(t, s, key("function", "default", fmt.Sprint(i)), "v")
	}
	// Watcher i sees creates i..n-1.
	for i, ch := range chans {
		for j := i; j < n; j++ {
			ev := next(t, ch)
			if got, want := ev.Record.Key.Name, fmt.Sprint(j); got != want || ev.Type != store.Put {
				t.Fatalf("watcher %d event: got %s, want Put of %s", i, show(ev), want)
			}
		}
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	_, ch, err := s.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	_, other, err := s.Watch(t.Context())
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	mustCreate(t, s, key("function", "default", "before"), "v")
	cancel()
	// Writes racing the cancellation must neither block nor panic.
	for i := range 10 {
		mustCreate(t, s, key("function", "default", fmt.Sprint(i)), "v")
	}
	waitClosed(t, ch)
	// The other watcher is unaffected.
	for i := range 11 {
		if ev := next(t, other); ev.Type != store.Put {
			t.Fatalf("other watcher event %d: got %s, want Put", i, show(ev))
		}
	}
}

func testCloseClosesWatchers(t *testing.T, s store.Store) {
	_, ch, err := s.Watch(t.Context())
	if err != nil {
		s.Close()
		t.Fatalf("Watch: got %v, want nil", err)
	}
	mustCreate(t, s, key("function", "default", "a"), "v")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	waitClosed(t, ch)
}

// watchResult is what one watcher saw.
type watchResult struct {
	snap   []store.Record
	events []store.Event
	err    error
}

// collect reads ch until the snapshot and events together hold n records,
// calling seen, if not nil, with the number of events after each one.
func collect(ch <-chan store.Event, snap []store.Record, n int, seen func(int)) watchResult {
	r := watchResult{snap: snap}
	deadline := time.After(timeout)
	for len(r.snap)+len(r.events) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				r.err = fmt.Errorf("channel closed after %d events", len(r.events))
				return r
			}
			r.events = append(r.events, ev)
			if seen != nil {
				seen(len(r.events))
			}
		case <-deadline:
			r.err = fmt.Errorf("%d records and %d events after %v of %d", len(r.snap), len(r.events), timeout, n)
			return r
		}
	}
	return r
}

func testConcurrentWriters(t *testing.T, s store.Store) {
	const writers, perWriter = 8, 50
	const total = writers * perWriter
	ctx := t.Context()

	// The first watcher watches from the start; late ones start while the
	// writers run, when the first has seen a given number of events.
	snap, ch, err := s.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	lateAt := []int{total / 8, total / 4, total / 2, 3 * total / 4}
	var (
		wg       sync.WaitGroup
		versions sync.Map // store.Key -> uint64 from Create
		firstRes watchResult
		lateRes  = make([]watchResult, len(lateAt))
		starts   = make([]chan struct{}, len(lateAt))
		once     = make([]sync.Once, len(lateAt))
	)
	start := func(i int) { once[i].Do(func() { close(starts[i]) }) }
	for i := range lateAt {
		starts[i] = make(chan struct{})
		wg.Go(func() {
			<-starts[i]
			lsnap, lch, err := s.Watch(ctx)
			if err != nil {
				lateRes[i].err = err
				return
			}
			lateRes[i] = collect(lch, lsnap, total, nil)
		})
	}
	wg.Go(func() {
		defer func() {
			for i := range lateAt {
				start(i)
			}
		}()
		firstRes = collect(ch, snap, total, func(n int) {
			if i := slices.Index(lateAt, n); i >= 0 {
				start(i)
			}
		})
	})

	var writersWG sync.WaitGroup
	errs := make(chan error, total)
	for w := range writers {
		writersWG.Go(func() {
			for i := range perWriter {
				k := key("function", fmt.Sprintf("ns%d", w), fmt.Sprintf("fn-%03d", i))
				v, err := s.Create(ctx, k, []byte(keyString(k)))
				if err != nil {
					errs <- fmt.Errorf("Create(%s): %w", keyString(k), err)
					continue
				}
				versions.Store(k, v)
				// Readers run alongside the writers.
				if i%10 == 0 {
					if _, err := s.Get(ctx, k); err != nil {
						errs <- fmt.Errorf("Get(%s): %w", keyString(k), err)
					}
					if _, err := s.List(ctx, "function", ""); err != nil {
						errs <- fmt.Errorf("List: %w", err)
					}
				}
			}
		})
	}
	writersWG.Wait()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: got %v, want nil", err)
	}

	check := func(name string, r watchResult) {
		t.Run(name, func(t *testing.T) {
			if r.err != nil {
				t.Fatalf("watcher: got %v, want every write", r.err)
			}
			seen := map[store.Key]int{}
			var maxSnap uint64
			for _, rec := range r.snap {
				seen[rec.Key]++
				maxSnap = max(maxSnap, rec.ResourceVersion)
			}
			last := maxSnap
			for i, ev := range r.events {
				seen[ev.Record.Key]++
				if ev.Type != store.Put {
					t.Fatalf("event %d: got %s, want a Put", i, show(ev))
				}
				if ev.Record.ResourceVersion <= last {
					t.Fatalf("event %d %s: got version %d, want > %d (snapshot and earlier events)", i, show(ev), ev.Record.ResourceVersion, last)
				}
				last = ev.Record.ResourceVersion
				if v, _ := versions.Load(ev.Record.Key); v != ev.Record.ResourceVersion {
					t.Fatalf("event %d %s: got version %d, want %v as Create returned", i, show(ev), ev.Record.ResourceVersion, v)
				}
				if got, want := string(ev.Record.Value), keyString(ev.Record.Key); got != want {
					t.Fatalf("event %d value: got %q, want %q", i, got, want)
				}
			}
			if len(seen) != total {
				t.Fatalf("distinct keys: got %d, want %d", len(seen), total)
			}
			for k, n := range seen {
				if n != 1 {
					t.Fatalf("%s: got %d times, want once", keyString(k), n)
				}
			}
		})
	}
	check("first", firstRes)
	for i, r := range lateRes {
		check(fmt.Sprintf("late after %d", lateAt[i]), r)
	}
	if len(firstRes.snap) != 0 {
		t.Errorf("first watcher snapshot: got %d records, want 0", len(firstRes.snap))
	}
}

func testConcurrentCAS(t *testing.T, s store.Store) {
	const workers, increments = 8, 25
	ctx := t.Context()
	k := key("counter", "default", "n")
	mustCreate(t, s, k, "0")
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
		errs      []error
	)
	for range workers {
		wg.Go(func() {
			for done := 0; done < increments; {
				rec, err := s.Get(ctx, k)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				n, _ := strconv.Atoi(string(rec.Value))
				_, err = s.Update(ctx, k, []byte(strconv.Itoa(n+1)), rec.ResourceVersion)
				switch {
				case errors.Is(err, store.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
				case err != nil:
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				default:
					done++
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("worker: got %v, want nil", err)
	}
	got := mustGet(t, s, k)
	if want := strconv.Itoa(workers * increments); string(got.Value) != want {
		t.Fatalf("counter after %d CAS increments (%d conflicts): got %s, want %s", workers*increments, conflicts, got.Value, want)
	}
}
