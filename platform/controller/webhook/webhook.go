package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/store/kubestore"
)

// Path is where the API server posts AdmissionReviews (the
// ValidatingWebhookConfiguration's clientConfig names it).
const Path = "/validate"

// maxReviewBytes bounds a request: an object is at most ~1.5 MiB in etcd,
// and an update carries the old one too.
const maxReviewBytes = 8 << 20

// Reviewer applies the REST API's rules to an object in the API's JSON
// form; *controller.Controller is one. Both methods return nil to allow,
// and otherwise an error httpx.Classify turns into the REST API's answer.
type Reviewer interface {
	ReviewWrite(ctx context.Context, kind string, value []byte) error
	ReviewDelete(ctx context.Context, kind string, value []byte) error
}

// Server answers AdmissionReviews (admission.k8s.io/v1) for Lantern's
// custom resources. Requests about any other resource, and about
// subresources (status), are allowed untouched.
type Server struct {
	rev     Reviewer
	logger  *slog.Logger
	metrics *metrics
	kinds   map[string]kubestore.Kind // by Kubernetes kind
}

// New returns a webhook that asks rev; reg, when not nil, gets its
// metrics.
func New(rev Reviewer, logger *slog.Logger, reg prometheus.Registerer) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{rev: rev, logger: logger, metrics: newMetrics(reg), kinds: map[string]kubestore.Kind{}}
	for _, k := range kubestore.LanternKinds() {
		s.kinds[k.Kind] = k
	}
	return s
}

// ServeHTTP answers one AdmissionReview. A request that is not one (wrong
// method, malformed JSON, no request, another API version) gets 400 or
// 405: the API server then applies the webhook's failurePolicy.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpx.WriteError(w, r, httpx.Errorf(http.StatusMethodNotAllowed, "POST an admission.k8s.io/v1 AdmissionReview to %s", Path))
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReviewBytes)).Decode(&review); err != nil {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "malformed AdmissionReview: %v", err))
		return
	}
	if gv := admissionv1.SchemeGroupVersion.String(); review.APIVersion != gv || review.Kind != "AdmissionReview" {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "got %s %s, want a %s AdmissionReview", review.APIVersion, review.Kind, gv))
		return
	}
	if review.Request == nil {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "the AdmissionReview has no request"))
		return
	}
	start := time.Now()
	resp := s.review(r.Context(), review.Request)
	resp.UID = review.Request.UID
	s.metrics.answered(s.kindLabel(review.Request), opLabel(review.Request.Operation), resp.Allowed, time.Since(start))
	review.Request, review.Response = nil, resp
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&review)
}

// review decides one request.
func (s *Server) review(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	k, ok := s.kinds[req.Kind.Kind]
	if !ok || req.Kind.Group != kubestore.Group || req.SubResource != "" {
		return allow()
	}
	var err error
	switch req.Operation {
	case admissionv1.Create, admissionv1.Update:
		var value []byte
		value, err = s.decode(k, req.Object.Raw, req)
		if errors.Is(err, errDeleting) {
			return allow() // the last writes of an object on its way out (finalizers)
		}
		if err == nil {
			err = s.rev.ReviewWrite(ctx, k.Name, value)
		}
	case admissionv1.Delete:
		raw := req.OldObject.Raw
		if len(raw) == 0 { // API servers before 1.15 send no old object
			raw, _ = json.Marshal(map[string]any{"apiVersion": req.Kind.Group + "/" + req.Kind.Version, "kind": req.Kind.Kind,
				"metadata": map[string]any{"name": req.Name, "namespace": req.Namespace}})
		}
		var value []byte
		if value, err = s.decode(k, raw, req); err == nil || errors.Is(err, errDeleting) {
			err = s.rev.ReviewDelete(ctx, k.Name, value)
		}
	default:
		return allow()
	}
	if err == nil {
		return allow()
	}
	status, body := httpx.Classify(err)
	if status >= 500 {
		s.logger.Error("admission review failed", "kind", k.Kind, "namespace", req.Namespace, "name", req.Name, "operation", req.Operation, "err", err)
	}
	msg := body.Message
	if body.Hint != "" {
		msg += "; " + body.Hint
	}
	return &admissionv1.AdmissionResponse{Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: int32(status), Reason: reason(status), Message: msg,
	}}
}

// errDeleting is returned by decode, with the value, for an object that
// has a deletion timestamp.
var errDeleting = errors.New("object is being deleted")

// decode turns a custom resource into the API's JSON form, as the store
// reads it.
func (s *Server) decode(k kubestore.Kind, raw []byte, req *admissionv1.AdmissionRequest) ([]byte, error) {
	if len(raw) == 0 {
		return nil, httpx.Errorf(http.StatusBadRequest, "the admission request carries no %s", k.Kind)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "decode %s: %v", k.Kind, err)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace(req.Namespace)
	}
	if u.GetName() == "" {
		u.SetName(req.Name)
	}
	value, _, err := k.Codec.Decode(u)
	if err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "%v", err)
	}
	if u.GetDeletionTimestamp() != nil {
		return value, errDeleting
	}
	return value, nil
}

func allow() *admissionv1.AdmissionResponse { return &admissionv1.AdmissionResponse{Allowed: true} }

// reason is the Kubernetes reason of a status code: kubectl prints it
// ("Error from server (Conflict)").
func reason(status int) metav1.StatusReason {
	switch status {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusConflict:
		return metav1.StatusReasonConflict
	case http.StatusNotFound:
		return metav1.StatusReasonNotFound
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	case http.StatusGatewayTimeout:
		return metav1.StatusReasonTimeout
	}
	if status >= 500 {
		return metav1.StatusReasonInternalError
	}
	return metav1.StatusReasonUnknown
}

// kindLabel bounds the kind label to Lantern's kinds.
func (s *Server) kindLabel(req *admissionv1.AdmissionRequest) string {
	if _, ok := s.kinds[req.Kind.Kind]; ok && req.Kind.Group == kubestore.Group {
		return req.Kind.Kind
	}
	return "other"
}

// opLabel bounds the operation label to the four operations.
func opLabel(op admissionv1.Operation) string {
	switch op {
	case admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect:
		return string(op)
	}
	return "other"
}
