package kubestore_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/store"
	"github.com/lantern-faas/lantern/platform/store/kubestore"
	"github.com/lantern-faas/lantern/platform/store/storetest"
	"github.com/lantern-faas/lantern/test/kubeenv"
)

var cluster *kubeenv.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kubestore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := kubeenv.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubestore tests need a Kubernetes API:", err)
		return 1
	}
	defer c.Stop()
	fmt.Printf("etcd and kube-apiserver ready in %s\n", c.Started.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.ApplyCRDs(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err, c.Logs(20))
		return 1
	}
	if err := setupContract(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, err, c.Logs(20))
		return 1
	}
	cluster = c
	return m.Run()
}

// The contract suite's kinds hold arbitrary values: each gets a CRD of its
// own whose objects keep the value opaque.
var contractKinds = map[string]string{
	"function": "Function", "environment": "Environment", "functions": "Functions",
	"counter": "Counter", "trigger": "Trigger",
}

// Namespaces the contract suite writes to.
var contractNamespaces = []string{"default", "prod", "other", "nsx", "ns1", "ns2", "ns10",
	"ns0", "ns3", "ns4", "ns5", "ns6", "ns7", "blobs"}

const contractGroup = "storetest.lantern.dev"

func plural(kind string) string { return strings.ToLower(kind) + "es" }

func setupContract(ctx context.Context, c *kubeenv.Cluster) error {
	var b strings.Builder
	var names []string
	for _, kind := range contractKinds {
		fmt.Fprintf(&b, `---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: %[2]s.%[3]s}
spec:
  group: %[3]s
  scope: Namespaced
  names: {kind: %[1]s, plural: %[2]s, singular: %[4]s, listKind: %[1]sList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {data: {type: string}}}
`, kind, plural(kind), contractGroup, strings.ToLower(kind))
		names = append(names, "crd/"+plural(kind)+"."+contractGroup)
	}
	for _, ns := range contractNamespaces {
		if ns != "default" {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
		}
	}
	if _, err := c.Kubectl(ctx, b.String(), "apply", "-f", "-"); err != nil {
		return err
	}
	_, err := c.Kubectl(ctx, "", append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, names...)...)
	return err
}

func contractStoreKinds() []kubestore.Kind {
	var kinds []kubestore.Kind
	for name, kind := range contractKinds {
		kinds = append(kinds, kubestore.Kind{Name: name, Kind: kind, Codec: kubestore.OpaqueCodec{},
			Resource: schema.GroupVersionResource{Group: contractGroup, Version: "v1", Resource: plural(kind)}})
	}
	return kinds
}

// clean deletes every object of the contract kinds and every package
// ConfigMap, so that each store starts empty.
func clean(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	dyn := dynamic.NewForConfigOrDie(cluster.Config)
	kube := kubernetes.NewForConfigOrDie(cluster.Config)
	for _, k := range contractStoreKinds() {
		for _, ns := range contractNamespaces {
			if err := dyn.Resource(k.Resource).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				t.Fatalf("clean %s in %s: %v", k.Resource.Resource, ns, err)
			}
		}
	}
	for _, r := range kubestore.LanternKinds() {
		if err := dyn.Resource(r.Resource).Namespace("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatalf("clean %s: %v", r.Resource.Resource, err)
		}
	}
	for _, ns := range []string{"default", "blobs"} {
		if err := kube.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "lantern.dev/package=true"}); err != nil {
			t.Fatalf("clean packages: %v", err)
		}
	}
}

func newStore(t *testing.T, kinds []kubestore.Kind) *kubestore.Store {
	t.Helper()
	clean(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := kubestore.New(ctx, cluster.Config, kubestore.Options{Kinds: kinds, BlobNamespace: "blobs"})
	if err != nil {
		t.Fatalf("kubestore.New: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, contractStoreKinds()) })
}

// TestLanternKinds stores the platform's objects as lantern.dev resources
// that kubectl shows, and reads back functions written with kubectl.
func TestLanternKinds(t *testing.T) {
	s := newStore(t, nil)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()

	env := &api.Environment{Metadata: api.Metadata{Name: "py", Namespace: "default", UID: "u-1"}, Spec: api.EnvironmentSpec{Runtime: "python"}}
	env.SetDefaults()
	envJSON, _ := json.Marshal(env)
	if _, err := s.Create(ctx, store.Key{Kind: api.KindEnvironment, Namespace: "default", Name: "py"}, envJSON); err != nil {
		t.Fatalf("Create environment: %v", err)
	}
	rec, err := s.Get(ctx, store.Key{Kind: api.KindEnvironment, Namespace: "default", Name: "py"})
	if err != nil {
		t.Fatalf("Get environment: %v", err)
	}
	var got api.Environment
	if err := json.Unmarshal(rec.Value, &got); err != nil {
		t.Fatalf("decode %s: %v", rec.Value, err)
	}
	if got.Spec.Runtime != "python" || got.Spec.Poolsize != env.Spec.Poolsize || got.Metadata.UID != "u-1" || got.Kind != api.KindEnvironment || got.Metadata.CreatedAt.IsZero() {
		t.Fatalf("environment read back: got %+v, want spec %+v, uid u-1, a creation time", got, env.Spec)
	}
	out, err := cluster.Kubectl(ctx, "", "get", "environments.lantern.dev", "py")
	if err != nil || !strings.Contains(out, "python") || !strings.Contains(out, "RUNTIME") {
		t.Fatalf("kubectl get environments: got %q, %v; want the runtime column showing python", out, err)
	}

	// A function written with kubectl, its code a literal.
	code := "def main():\n    return 'hi'\n"
	manifest := fmt.Sprintf(`apiVersion: lantern.dev/v1
kind: Function
metadata: {name: lit, namespace: default}
spec:
  environment: py
  package: {filename: hello.py, literal: %s}
`, base64.StdEncoding.EncodeToString([]byte(code)))
	if _, err := cluster.Kubectl(ctx, manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	key := store.Key{Kind: api.KindFunction, Namespace: "default", Name: "lit"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rec, err = s.Get(ctx, key); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Get of a function written with kubectl: %v", err)
	}
	var fn api.Function
	if err := json.Unmarshal(rec.Value, &fn); err != nil {
		t.Fatal(err)
	}
	if fn.Spec.Concurrency != api.DefaultConcurrency || fn.Spec.Package.Size != int64(len(code)) || fn.Spec.Package.Checksum == "" {
		t.Fatalf("function written with kubectl: got spec %+v, want the CRD's defaults and the literal's size and checksum", fn.Spec)
	}
	data, err := s.GetBlob(ctx, fn.Spec.Package.Checksum)
	if err != nil || string(data) != code {
		t.Fatalf("GetBlob of the literal: got %q, %v; want %q", data, err, code)
	}

	// An update through the API keeps the literal.
	fn.Spec.Entrypoint = "hello.main"
	fnJSON, _ := json.Marshal(fn)
	if _, err := s.Update(ctx, key, fnJSON, rec.ResourceVersion); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if data, err := s.GetBlob(ctx, fn.Spec.Package.Checksum); err != nil || string(data) != code {
		t.Fatalf("GetBlob after an update: got %q, %v; want %q", data, err, code)
	}
}

// TestStatusIsNoEvent: a status write moves the record's version but is no
// change of the object for watchers (the poolmgr would take it for a new
// version of the function and replace its instances).
func TestStatusIsNoEvent(t *testing.T) {
	s := newStore(t, nil)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if _, err := cluster.Kubectl(ctx, `apiVersion: lantern.dev/v1
kind: Function
metadata: {name: st, namespace: default}
spec: {environment: py, package: {filename: a.py, literal: YQ==}}
`, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	key := store.Key{Kind: api.KindFunction, Namespace: "default", Name: "st"}
	var before store.Record
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if before, err = s.Get(ctx, key); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	_, events, err := s.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kubestore.NewStatusWriter(cluster.Config, kubestore.FunctionsResource,
		func(ns, name string) any { return api.FunctionStatus{ReadyInstances: 7} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.Run(wctx)
	w.Changed("default", "st")
	var after store.Record
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if after, _ = s.Get(ctx, key); after.ResourceVersion > before.ResourceVersion {
			break
		}
	}
	if after.ResourceVersion <= before.ResourceVersion || string(after.Value) != string(before.Value) {
		t.Fatalf("after a status write: got version %d value %s, want a version above %d and the same value", after.ResourceVersion, after.Value, before.ResourceVersion)
	}
	if out, err := cluster.Kubectl(ctx, "", "get", "functions.lantern.dev", "st", "-o", "jsonpath={.status.readyInstances}"); err != nil || out != "7" {
		t.Fatalf("status.readyInstances: got %q, %v; want 7", out, err)
	}
	select {
	case ev := <-events:
		t.Fatalf("watch event for a status write: got %v %s, want none", ev.Type, ev.Record.Value)
	case <-time.After(200 * time.Millisecond):
	}
	// An update with the version Get returned still works.
	if _, err := s.Update(ctx, key, after.Value, after.ResourceVersion); err != nil {
		t.Fatalf("Update with the version after the status write: %v", err)
	}
}

// TestGetWrittenByOthers: an object another client has just created is
// found by Get at once, before the informer has seen it (a webhook asked
// about a function right after kubectl created its environment).
func TestGetWrittenByOthers(t *testing.T) {
	s := newStore(t, nil)
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	envs := dynamic.NewForConfigOrDie(cluster.Config).Resource(kubestore.EnvironmentsResource).Namespace("default")
	for i := range 20 {
		name := fmt.Sprintf("fresh-%d", i)
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "lantern.dev/v1", "kind": "Environment",
			"metadata": map[string]any{"name": name},
			"spec":     map[string]any{"runtime": "python"},
		}}
		if _, err := envs.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Get(ctx, store.Key{Kind: api.KindEnvironment, Namespace: "default", Name: name})
		if err != nil {
			t.Fatalf("Get right after another client created %s: got %v, want the environment", name, err)
		}
		var env api.Environment
		if err := json.Unmarshal(rec.Value, &env); err != nil || env.Spec.Runtime != "python" || rec.ResourceVersion == 0 {
			t.Fatalf("Get of %s: got %s (version %d), %v; want runtime python and a version", name, rec.Value, rec.ResourceVersion, err)
		}
	}
	if _, err := s.Get(ctx, store.Key{Kind: api.KindEnvironment, Namespace: "default", Name: "never-made"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing environment: got %v, want store.ErrNotFound", err)
	}
}

func TestBlobTooLarge(t *testing.T) {
	s := newStore(t, nil)
	t.Cleanup(func() { s.Close() })
	big := make([]byte, kubestore.MaxBlobBytes+1)
	err := s.PutBlob(t.Context(), "sha256:big", big)
	if !errors.Is(err, kubestore.ErrTooLarge) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("PutBlob of %d bytes: got %v, want %v naming the limit", len(big), err, kubestore.ErrTooLarge)
	}
	if err := s.PutBlob(t.Context(), "sha256:max", make([]byte, kubestore.MaxBlobBytes)); err != nil {
		t.Fatalf("PutBlob of exactly %d bytes: got %v, want nil", kubestore.MaxBlobBytes, err)
	}
}

// TestMissingCRD fails New with a hint when the CRDs are not installed.
func TestMissingCRD(t *testing.T) {
	kinds := []kubestore.Kind{{Name: "Nothing", Kind: "Nothing", Codec: kubestore.OpaqueCodec{},
		Resource: schema.GroupVersionResource{Group: "nowhere.lantern.dev", Version: "v1", Resource: "nothings"}}}
	_, err := kubestore.New(t.Context(), cluster.Config, kubestore.Options{Kinds: kinds})
	if err == nil || !strings.Contains(err.Error(), "charts/lantern/crds") {
		t.Fatalf("New without the CRD: got %v, want an error saying to install the CRDs", err)
	}
}

// TestForbidden fails New with the API server's denial, not a hang, for a
// user RBAC gives nothing.
func TestForbidden(t *testing.T) {
	cfg := *cluster.Config
	cfg.Impersonate.UserName = "nobody"
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := kubestore.New(ctx, &cfg, kubestore.Options{})
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("New as a user without RBAC: got %v, want a forbidden error", err)
	}
}
