package kubestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/lantern-faas/lantern/platform/api"
)

// Group and Version of Lantern's CRDs (charts/lantern/crds).
const (
	Group   = "lantern.dev"
	Version = "v1"
)

// Annotations the store keeps Lantern's own metadata in.
const (
	annotationUID       = Group + "/uid"
	annotationUpdatedAt = Group + "/updated-at"
)

// Kind maps a store kind to a custom resource.
type Kind struct {
	// Name is the store's kind (store.Key.Kind), e.g. "Function".
	Name string
	// Resource is the custom resource, e.g. lantern.dev/v1 functions.
	Resource schema.GroupVersionResource
	// Kind is the resource's Kubernetes kind, e.g. "Function".
	Kind string
	// Codec turns record values into objects and back.
	Codec Codec
}

// Codec converts between a record's value and a custom resource.
type Codec interface {
	// Encode writes value into obj: obj holds the current object on an
	// update (so that fields the value does not carry can be kept), or
	// only apiVersion, kind, name and namespace on a create.
	Encode(value []byte, obj *unstructured.Unstructured) error
	// Decode returns the value an object holds. literal, when not nil, is
	// a code package kept in the object itself, served by GetBlob under its
	// hex SHA-256.
	Decode(obj *unstructured.Unstructured) (value, literal []byte, err error)
}

// LanternKinds are Environment, Function and HTTPTrigger, stored as the
// lantern.dev/v1 custom resources with the API's JSON codec.
func LanternKinds() []Kind {
	mk := func(kind, resource string) Kind {
		return Kind{Name: kind, Kind: kind, Resource: schema.GroupVersionResource{Group: Group, Version: Version, Resource: resource}, Codec: APICodec{}}
	}
	return []Kind{
		mk(api.KindEnvironment, "environments"),
		mk(api.KindFunction, "functions"),
		mk(api.KindHTTPTrigger, "httptriggers"),
		mk(api.KindTimeTrigger, "timetriggers"),
		mk(api.KindMessageQueueTrigger, "messagequeuetriggers"),
	}
}

// APICodec stores the platform's objects (api.Environment, api.Function,
// api.HTTPTrigger as JSON): spec becomes the resource's spec, labels its
// labels; the UID the controller chose and the update time go in
// annotations. Decoding fills the metadata from the resource, so objects
// written with kubectl read like those written through the API.
type APICodec struct{}

type apiObject struct {
	Kind     string          `json:"kind"`
	Metadata api.Metadata    `json:"metadata"`
	Spec     json.RawMessage `json:"spec"`
}

// Encode implements Codec.
func (APICodec) Encode(value []byte, obj *unstructured.Unstructured) error {
	var in apiObject
	if err := json.Unmarshal(value, &in); err != nil {
		return fmt.Errorf("decode %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	var spec map[string]any
	if len(in.Spec) > 0 {
		if err := json.Unmarshal(in.Spec, &spec); err != nil {
			return fmt.Errorf("decode spec of %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
	if spec == nil {
		spec = map[string]any{}
	}
	keepLiteral(obj, spec)
	obj.Object["spec"] = spec
	obj.SetLabels(in.Metadata.Labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	if in.Metadata.UID != "" {
		ann[annotationUID] = in.Metadata.UID
	}
	if !in.Metadata.UpdatedAt.IsZero() {
		ann[annotationUpdatedAt] = in.Metadata.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	obj.SetAnnotations(ann)
	return nil
}

// keepLiteral keeps the code literal of a function written with kubectl
// when an update through the API keeps its package (the API's Package has
// no literal: it names the package by checksum).
func keepLiteral(old *unstructured.Unstructured, spec map[string]any) {
	lit, ok, _ := unstructured.NestedString(old.Object, "spec", "package", "literal")
	pkg, _ := spec["package"].(map[string]any)
	if !ok || pkg == nil {
		return
	}
	data, err := base64.StdEncoding.DecodeString(lit)
	if err != nil {
		return
	}
	if sum, _ := pkg["checksum"].(string); sum == checksum(data) {
		pkg["literal"] = lit
	}
}

// Decode implements Codec.
func (APICodec) Decode(obj *unstructured.Unstructured) ([]byte, []byte, error) {
	out := apiObject{Kind: obj.GetKind()}
	m := &out.Metadata
	m.Name, m.Namespace, m.Generation, m.Labels = obj.GetName(), obj.GetNamespace(), obj.GetGeneration(), obj.GetLabels()
	m.UID = string(obj.GetUID())
	ann := obj.GetAnnotations()
	if uid := ann[annotationUID]; uid != "" {
		m.UID = uid
	}
	m.CreatedAt = obj.GetCreationTimestamp().UTC()
	m.UpdatedAt = m.CreatedAt
	if t, err := time.Parse(time.RFC3339Nano, ann[annotationUpdatedAt]); err == nil {
		m.UpdatedAt = t
	}
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	var literal []byte
	if pkg, ok := spec["package"].(map[string]any); ok {
		if lit, ok := pkg["literal"].(string); ok {
			data, err := base64.StdEncoding.DecodeString(lit)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s/%s: spec.package.literal is not base64: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			}
			literal = data
			delete(pkg, "literal")
			pkg["checksum"] = checksum(data)
			pkg["size"] = int64(len(data))
			name, _ := pkg["filename"].(string)
			if bytes.HasPrefix(data, []byte("PK\x03\x04")) || strings.HasSuffix(strings.ToLower(name), ".zip") {
				pkg["archive"] = true
			}
		}
	}
	var err error
	if out.Spec, err = json.Marshal(spec); err != nil {
		return nil, nil, err
	}
	value, err := json.Marshal(out)
	return value, literal, err
}

func checksum(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// OpaqueCodec keeps any value as base64 in spec.data. It serves kinds whose
// values are not the platform's objects (the store's contract tests).
type OpaqueCodec struct{}

// Encode implements Codec.
func (OpaqueCodec) Encode(value []byte, obj *unstructured.Unstructured) error {
	obj.Object["spec"] = map[string]any{"data": base64.StdEncoding.EncodeToString(value)}
	return nil
}

// Decode implements Codec.
func (OpaqueCodec) Decode(obj *unstructured.Unstructured) ([]byte, []byte, error) {
	s, _, _ := unstructured.NestedString(obj.Object, "spec", "data")
	v, err := base64.StdEncoding.DecodeString(s)
	return v, nil, err
}
