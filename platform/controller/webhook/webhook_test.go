package webhook_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/controller/webhook"
	"github.com/lantern-faas/lantern/platform/store"
	"github.com/lantern-faas/lantern/platform/store/boltstore"
)

// fixture is a webhook over a real controller and store holding an
// environment "python" and a function "hello" in it.
type fixture struct {
	url string
	reg *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, o := range []api.Object{
		&api.Environment{Kind: api.KindEnvironment, Metadata: api.Metadata{Namespace: "default", Name: "python"}, Spec: api.EnvironmentSpec{Runtime: "python"}},
		&api.Function{Kind: api.KindFunction, Metadata: api.Metadata{Namespace: "default", Name: "hello"}, Spec: api.FunctionSpec{Environment: "python"}},
	} {
		b, _ := json.Marshal(o)
		m := o.GetMetadata()
		if _, err := st.Create(t.Context(), store.Key{Kind: o.GetKind(), Namespace: m.Namespace, Name: m.Name}, b); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	srv := httptest.NewServer(webhook.New(controller.New(controller.Config{}, st, nil), nil, reg))
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL + webhook.Path, reg: reg}
}

// post sends body and returns the status and the body of the answer.
func (f *fixture) post(t *testing.T, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(f.url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// review sends req in an AdmissionReview and returns the response.
func (f *fixture) review(t *testing.T, req admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	t.Helper()
	req.UID = types.UID("uid-" + t.Name())
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"}, Request: &req,
	})
	if err != nil {
		t.Fatal(err)
	}
	status, body := f.post(t, string(b))
	if status != http.StatusOK {
		t.Fatalf("POST AdmissionReview: got %d %s, want 200", status, body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &out); err != nil || out.Response == nil {
		t.Fatalf("decode answer %s: %v, want an AdmissionReview with a response", body, err)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response.UID != req.UID || out.Request != nil {
		t.Fatalf("answer: got %s %s uid %q request %v, want an admission.k8s.io/v1 AdmissionReview with uid %q and no request",
			out.APIVersion, out.Kind, out.Response.UID, out.Request, req.UID)
	}
	return out.Response
}

func lanternKind(kind string) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: "lantern.dev", Version: "v1", Kind: kind}
}

// cr is a custom resource of kind in namespace default.
func cr(kind, name, spec string) runtime.RawExtension {
	return runtime.RawExtension{Raw: []byte(`{"apiVersion":"lantern.dev/v1","kind":"` + kind + `","metadata":{"name":"` + name +
		`","namespace":"default"},"spec":` + spec + `}`)}
}

func TestServer_Malformed(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, body, want string
	}{
		{"NotJSON", "{not json", "malformed AdmissionReview"},
		{"Empty", "", "malformed AdmissionReview"},
		{"NoRequest", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "has no request"},
		{"V1beta1", `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`, "want a admission.k8s.io/v1 AdmissionReview"},
		{"NotAReview", `{"apiVersion":"v1","kind":"Pod"}`, "want a admission.k8s.io/v1 AdmissionReview"},
		{"WrongType", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}`, "malformed AdmissionReview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.post(t, tt.body)
			if status != http.StatusBadRequest || !bytes.Contains(body, []byte(tt.want)) {
				t.Errorf("got %d %s, want 400 saying %q", status, body, tt.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(f.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
			t.Errorf("GET: got %d Allow %q, want 405 Allow POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func TestServer_Review(t *testing.T) {
	f := newFixture(t)
	fn := func(name, env string) runtime.RawExtension {
		return cr("Function", name, `{"environment":"`+env+`","package":{"filename":"a.py","literal":"YQ=="}}`)
	}
	deleting := fn("old", "gone")
	deleting.Raw = bytes.Replace(deleting.Raw, []byte(`"namespace":"default"`), []byte(`"namespace":"default","deletionTimestamp":"2026-01-01T00:00:00Z"`), 1)
	tests := []struct {
		name        string
		req         admissionv1.AdmissionRequest
		wantAllowed bool
		wantCode    int32
		wantMessage []string
	}{
		{"Pod ignored", admissionv1.AdmissionRequest{Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`)}}, true, 0, nil},
		{"Function of another group ignored", admissionv1.AdmissionRequest{Kind: metav1.GroupVersionKind{Group: "fission.io", Version: "v1", Kind: "Function"},
			Operation: admissionv1.Create, Object: fn("f", "nope")}, true, 0, nil},
		{"status ignored", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), SubResource: "status", Operation: admissionv1.Update,
			Object: fn("f", "nope")}, true, 0, nil},
		{"function without environment", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "default", Name: "f",
			Operation: admissionv1.Create, Object: fn("f", "nope")}, false, 400,
			[]string{`spec.environment: environment "nope" not found in namespace "default"; create it with 'lantern env create --name nope`}},
		{"update to a missing environment", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "default", Name: "hello",
			Operation: admissionv1.Update, Object: fn("hello", "nope"), OldObject: fn("hello", "python")}, false, 400,
			[]string{`environment "nope" not found`}},
		{"function being deleted", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "default", Name: "old",
			Operation: admissionv1.Update, Object: deleting}, true, 0, nil},
		{"function OK", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "default", Name: "f",
			Operation: admissionv1.Create, Object: fn("f", "python")}, true, 0, nil},
		{"namespace from the request", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "prod", Name: "f",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`{"apiVersion":"lantern.dev/v1","kind":"Function","metadata":{"name":"f"},"spec":{"environment":"python","package":{"filename":"a.py","literal":"YQ=="}}}`)}},
			false, 400, []string{`environment "python" not found in namespace "prod"`}},
		{"route without function", admissionv1.AdmissionRequest{Kind: lanternKind("HTTPTrigger"), Namespace: "default", Name: "r",
			Operation: admissionv1.Create, Object: cr("HTTPTrigger", "r", `{"relativeurl":"/r","functionref":{"name":"ghost"}}`)}, false, 400,
			[]string{`spec.functionref.name: function "ghost" not found in namespace "default"; create it first`}},
		{"reserved route", admissionv1.AdmissionRequest{Kind: lanternKind("HTTPTrigger"), Namespace: "default", Name: "r",
			Operation: admissionv1.Create, Object: cr("HTTPTrigger", "r", `{"relativeurl":"/fn/x","functionref":{"name":"hello"}}`)}, false, 400,
			[]string{`spec.relativeurl: "/fn/x" is reserved by the router`}},
		{"timer with a bad hour", admissionv1.AdmissionRequest{Kind: lanternKind("TimeTrigger"), Namespace: "default", Name: "t",
			Operation: admissionv1.Create, Object: cr("TimeTrigger", "t", `{"cron":"0 25 * * *","functionref":{"name":"hello"}}`)}, false, 400,
			[]string{"spec.cron:", "above maximum"}},
		{"mqt without function", admissionv1.AdmissionRequest{Kind: lanternKind("MessageQueueTrigger"), Namespace: "default", Name: "m",
			Operation: admissionv1.Create, Object: cr("MessageQueueTrigger", "m", `{"messageQueueType":"nats","topic":"orders","functionref":{"name":"ghost"}}`)}, false, 400,
			[]string{`function "ghost" not found`}},
		{"environment in use", admissionv1.AdmissionRequest{Kind: lanternKind("Environment"), Namespace: "default", Name: "python",
			Operation: admissionv1.Delete, OldObject: cr("Environment", "python", `{"runtime":"python"}`)}, false, 409,
			[]string{`environment "python" is used by function(s) hello; delete those functions first`}},
		{"environment in use, no old object", admissionv1.AdmissionRequest{Kind: lanternKind("Environment"), Namespace: "default", Name: "python",
			Operation: admissionv1.Delete}, false, 409, []string{`environment "python" is used by function(s) hello`}},
		{"function not in use", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "default", Name: "hello",
			Operation: admissionv1.Delete, OldObject: fn("hello", "python")}, true, 0, nil},
		{"not a custom resource", admissionv1.AdmissionRequest{Kind: lanternKind("Function"), Namespace: "default", Name: "f",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: []byte(`[1]`)}}, false, 400, []string{"decode Function"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.review(t, tt.req)
			if resp.Allowed != tt.wantAllowed {
				t.Fatalf("allowed: got %v (%+v), want %v", resp.Allowed, resp.Result, tt.wantAllowed)
			}
			if tt.wantAllowed {
				return
			}
			if resp.Result == nil || resp.Result.Code != tt.wantCode {
				t.Fatalf("result: got %+v, want code %d", resp.Result, tt.wantCode)
			}
			for _, w := range tt.wantMessage {
				if !strings.Contains(resp.Result.Message, w) {
					t.Errorf("message: got %q, want it to say %q", resp.Result.Message, w)
				}
			}
		})
	}
	for _, c := range []struct {
		kind, op, allowed string
		want              float64
	}{
		{"Function", "CREATE", "false", 3}, {"Function", "CREATE", "true", 1}, {"other", "CREATE", "true", 2},
		{"Environment", "DELETE", "false", 2}, {"Function", "UPDATE", "true", 2},
	} {
		got, err := counter(f.reg, c.kind, c.op, c.allowed)
		if err != nil || got != c.want {
			t.Errorf("lantern_controller_admission_requests_total{kind=%q,operation=%q,allowed=%q}: got %v, %v; want %v", c.kind, c.op, c.allowed, got, err, c.want)
		}
	}
}

// counter reads one series of lantern_controller_admission_requests_total.
func counter(reg *prometheus.Registry, kind, op, allowed string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != "lantern_controller_admission_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["operation"] == op && labels["allowed"] == allowed {
				return m.GetCounter().GetValue(), nil
			}
		}
	}
	return 0, nil
}
