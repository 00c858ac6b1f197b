package podlogs

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/instance/kubepods"
)

var t0 = time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)

// poolPod is a pool pod as kubepods makes it, marked specialized for fn
// at since when fn is not empty.
func poolPod(name, uid, fn string, since time.Time) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "lantern", UID: types.UID("uid-" + uid),
			Labels: map[string]string{kubepods.LabelManagedBy: "lantern-poolmgr", kubepods.LabelEnvironment: "python",
				kubepods.LabelInstance: "python-" + name},
			Annotations: map[string]string{kubepods.AnnotationEnvNamespace: "default"}},
		Spec: corev1.PodSpec{NodeName: "node-a"},
	}
	if fn != "" {
		p.Annotations[kubepods.AnnotationFunction] = fn
		p.Annotations[kubepods.AnnotationFunctionNamespace] = "default"
		p.Annotations[kubepods.AnnotationFunctionVersion] = "u/1"
		p.Annotations[kubepods.AnnotationSpecializedAt] = since.Format(time.RFC3339Nano)
	}
	return p
}

func TestIdentity_Attribute(t *testing.T) {
	pool := Identity{Instance: "python-a", Environment: "python", EnvironmentNamespace: "default"}
	fn := pool
	fn.Function, fn.FunctionNamespace, fn.Since = "hello", "default", t0
	envMeta := logs.InstanceMeta{Namespace: "default", Environment: "python", Instance: "python-a"}
	fnMeta := logs.InstanceMeta{Namespace: "default", Function: "hello", Environment: "python", Instance: "python-a"}
	tests := []struct {
		name string
		id   Identity
		at   time.Time
		want logs.InstanceMeta
	}{
		{"not specialized", pool, t0.Add(time.Hour), envMeta},
		{"before specialization", fn, t0.Add(-time.Nanosecond), envMeta},
		{"at specialization", fn, t0, fnMeta},
		{"after specialization", fn, t0.Add(time.Second), fnMeta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.id.Attribute(tt.at)); diff != "" {
				t.Errorf("Attribute(%v) (-want +got):\n%s", tt.at, diff)
			}
		})
	}
}

func TestIdentityOf(t *testing.T) {
	seen := t0.Add(time.Minute)
	noTime := poolPod("c", "c", "hello", t0)
	delete(noTime.Annotations, kubepods.AnnotationSpecializedAt) // marked by an older poolmgr
	notOurs := poolPod("d", "d", "", time.Time{})
	delete(notOurs.Labels, kubepods.LabelInstance)
	tests := []struct {
		name   string
		pod    *corev1.Pod
		want   Identity
		wantOK bool
	}{
		{"pool", poolPod("a", "a", "", time.Time{}), Identity{Instance: "python-a", Environment: "python", EnvironmentNamespace: "default"}, true},
		{"specialized", poolPod("b", "b", "hello", t0), Identity{Instance: "python-b", Environment: "python", EnvironmentNamespace: "default",
			Function: "hello", FunctionNamespace: "default", Since: t0}, true},
		{"marked without a time", noTime, Identity{Instance: "python-c", Environment: "python", EnvironmentNamespace: "default",
			Function: "hello", FunctionNamespace: "default", Since: seen}, true},
		{"not a pool pod", notOurs, Identity{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := identityOf(tt.pod, seen)
			if ok != tt.wantOK {
				t.Fatalf("ok: got %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identityOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	pool := Identity{Instance: "i", Environment: "python", EnvironmentNamespace: "default"}
	fn := pool
	fn.Function, fn.FunctionNamespace, fn.Since = "hello", "default", t0
	later := fn
	later.Since = t0.Add(time.Minute) // a mark without a time, seen again later
	if got := merge(pool, fn); got != fn {
		t.Errorf("pool then marked: got %+v, want %+v", got, fn)
	}
	if got := merge(fn, later); got != fn {
		t.Errorf("the mark's time moved: got %+v, want %+v", got, fn)
	}
	if got := merge(fn, pool); got != fn {
		t.Errorf("a mark lost: got %+v, want %+v", got, fn)
	}
}
