package podlogs

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/instance/kubepods"
)

// Identity is what a pool pod's lines are attributed with: its instance and
// environment, and once specialized, its function and since when.
type Identity struct {
	Instance             string `json:"instance"`
	Environment          string `json:"environment"`
	EnvironmentNamespace string `json:"environmentNamespace"`
	FunctionNamespace    string `json:"functionNamespace,omitempty"`
	Function             string `json:"function,omitempty"`
	// Since is when the pod began to serve Function.
	Since time.Time `json:"since,omitzero"`
}

// Specialized reports whether the pod serves a function.
func (id Identity) Specialized() bool { return id.Function != "" }

// Attribute returns whom a line printed at t belongs to: the function from
// Since on, the environment before (and while the pod is not specialized).
func (id Identity) Attribute(t time.Time) logs.InstanceMeta {
	if id.Specialized() && !t.Before(id.Since) {
		return logs.InstanceMeta{Namespace: id.FunctionNamespace, Function: id.Function, Environment: id.Environment, Instance: id.Instance}
	}
	return logs.InstanceMeta{Namespace: id.EnvironmentNamespace, Environment: id.Environment, Instance: id.Instance}
}

// identityOf reads a pool pod's identity from its labels and annotations.
// ok is false for a pod that is not a pool pod. A pod marked with a
// function but no time (by a poolmgr from before the time was written)
// gets seen as its Since: what it printed before the mark was seen is its
// environment's.
func identityOf(p *corev1.Pod, seen time.Time) (id Identity, ok bool) {
	id = Identity{
		Instance:             p.Labels[kubepods.LabelInstance],
		Environment:          p.Labels[kubepods.LabelEnvironment],
		EnvironmentNamespace: p.Annotations[kubepods.AnnotationEnvNamespace],
		Function:             p.Annotations[kubepods.AnnotationFunction],
		FunctionNamespace:    p.Annotations[kubepods.AnnotationFunctionNamespace],
	}
	if id.Instance == "" {
		return Identity{}, false
	}
	if id.EnvironmentNamespace == "" {
		id.EnvironmentNamespace = p.Namespace
	}
	if id.Function == "" {
		return id, true
	}
	if id.FunctionNamespace == "" {
		id.FunctionNamespace = id.EnvironmentNamespace // a function's environment is in its namespace
	}
	since, err := time.Parse(time.RFC3339Nano, p.Annotations[kubepods.AnnotationSpecializedAt])
	if err != nil {
		since = seen
	}
	id.Since = since
	return id, true
}

// merge returns the identity a pod has now, given the one it had: a mark
// once seen is kept (the time of a mark without one does not move on).
func merge(old, cur Identity) Identity {
	if old.Specialized() && cur.Specialized() && old.Function == cur.Function && old.FunctionNamespace == cur.FunctionNamespace &&
		cur.Since.After(old.Since) {
		cur.Since = old.Since
	}
	if old.Specialized() && !cur.Specialized() {
		return old
	}
	return cur
}
