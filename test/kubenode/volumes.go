package kubenode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podVolumes are a pod's volumes on the node.
type podVolumes struct {
	// emptyDirs are folders whose mount paths are rewritten in the args
	// and environment of the containers that mount them.
	emptyDirs map[string]string
	// mounted are folders bind-mounted at their mount paths, in a mount
	// namespace of the pod's containers (projected, Secret and ConfigMap
	// volumes).
	mounted map[string]string
	// hosts is the pod's /etc/hosts, when the node runs Services.
	hosts string
}

// volumes makes a pod's emptyDir volumes, finds its hostPath ones (the
// node's /var/log/pods is PodLogsDir), and makes projected, Secret and
// ConfigMap ones with Options.MountVolumes; other kinds are left out.
func (p *provider) volumes(ctx context.Context, obj *corev1.Pod) (*podVolumes, error) {
	v := &podVolumes{emptyDirs: map[string]string{}, mounted: map[string]string{}}
	for _, vol := range obj.Spec.Volumes {
		dir := filepath.Join(p.podDir(obj), "volumes", vol.Name)
		switch {
		case vol.HostPath != nil && p.opts.MountVolumes:
			// The node's own folder: its /var/log/pods is PodLogsDir.
			host := vol.HostPath.Path
			if filepath.Clean(host) == "/var/log/pods" {
				host = p.opts.PodLogsDir
			}
			if err := os.MkdirAll(host, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: hostPath %s: %w", vol.Name, vol.HostPath.Path, err)
			}
			v.mounted[vol.Name] = host
			continue
		case vol.EmptyDir != nil:
			v.emptyDirs[vol.Name] = dir
		case (vol.Projected != nil || vol.Secret != nil || vol.ConfigMap != nil) && p.opts.MountVolumes:
			v.mounted[vol.Name] = dir
		default:
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		// fsGroup owns the pod's volumes, and what is made in an
		// emptyDir keeps its group (setgid).
		if sc := obj.Spec.SecurityContext; sc != nil && sc.FSGroup != nil && vol.EmptyDir != nil {
			if err := os.Chown(dir, 0, int(*sc.FSGroup)); err != nil {
				return nil, err
			}
			if err := os.Chmod(dir, 0o2775); err != nil {
				return nil, err
			}
		}
		if _, ok := v.mounted[vol.Name]; ok {
			src := vol.Projected
			switch {
			case vol.Secret != nil:
				src = &corev1.ProjectedVolumeSource{DefaultMode: vol.Secret.DefaultMode, Sources: []corev1.VolumeProjection{{Secret: &corev1.SecretProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: vol.Secret.SecretName}, Items: vol.Secret.Items, Optional: vol.Secret.Optional}}}}
			case vol.ConfigMap != nil:
				src = &corev1.ProjectedVolumeSource{DefaultMode: vol.ConfigMap.DefaultMode, Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: vol.ConfigMap.LocalObjectReference, Items: vol.ConfigMap.Items, Optional: vol.ConfigMap.Optional}}}}
			}
			if err := p.project(ctx, obj, src, dir); err != nil {
				return nil, fmt.Errorf("volume %s: %w", vol.Name, err)
			}
		}
	}
	return v, nil
}

// project writes a projected volume's files (a Secret or ConfigMap volume
// is one with a single source), as the kubelet does: a service-account
// token from the TokenRequest API, bound to the pod; ConfigMap and Secret
// keys (waiting a while for one that is not there yet, such as
// kube-root-ca.crt in a new namespace); downward API fields. Neither the
// token nor the keys are refreshed: tests end long before the token
// expires.
func (p *provider) project(ctx context.Context, obj *corev1.Pod, src *corev1.ProjectedVolumeSource, dir string) error {
	mode := os.FileMode(0o644)
	if src.DefaultMode != nil {
		mode = os.FileMode(*src.DefaultMode)
	}
	write := func(path string, data []byte) error {
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, data, mode)
	}
	for _, s := range src.Sources {
		switch {
		case s.ServiceAccountToken != nil:
			tok, err := p.token(ctx, obj, s.ServiceAccountToken)
			if err != nil {
				return err
			}
			if err := write(s.ServiceAccountToken.Path, []byte(tok)); err != nil {
				return err
			}
		case s.ConfigMap != nil:
			cm, err := waitFor(ctx, "configmap", obj.Namespace, s.ConfigMap.Name, s.ConfigMap.Optional, p.client.CoreV1().ConfigMaps(obj.Namespace).Get)
			if err != nil {
				return err
			}
			data := map[string][]byte{}
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			for k, v := range cm.BinaryData {
				data[k] = v
			}
			if err := writeItems(write, data, s.ConfigMap.Items); err != nil {
				return fmt.Errorf("configmap %s: %w", s.ConfigMap.Name, err)
			}
		case s.Secret != nil:
			sec, err := waitFor(ctx, "secret", obj.Namespace, s.Secret.Name, s.Secret.Optional, p.client.CoreV1().Secrets(obj.Namespace).Get)
			if err != nil {
				return err
			}
			if err := writeItems(write, sec.Data, s.Secret.Items); err != nil {
				return fmt.Errorf("secret %s: %w", s.Secret.Name, err)
			}
		case s.DownwardAPI != nil:
			for _, it := range s.DownwardAPI.Items {
				if it.FieldRef == nil {
					continue
				}
				if err := write(it.Path, []byte(fieldValue(obj, "", it.FieldRef.FieldPath))); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// token asks the API server for a token of the pod's ServiceAccount, bound
// to the pod: it stops working when the pod is deleted.
func (p *provider) token(ctx context.Context, obj *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := obj.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: obj.Name, UID: obj.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := p.client.CoreV1().ServiceAccounts(obj.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of serviceaccount %s/%s: %w", obj.Namespace, sa, err)
	}
	return tr.Status.Token, nil
}

// waitFor gets a ConfigMap or Secret, waiting up to 30s for it to be made;
// a missing optional one is empty.
func waitFor[T any](ctx context.Context, kind, ns, name string, optional *bool, get func(context.Context, string, metav1.GetOptions) (*T, error)) (*T, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		obj, err := get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			return obj, nil
		case !apierrors.IsNotFound(err):
			return nil, err
		case optional != nil && *optional:
			return new(T), nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("%s %s/%s not found within 30s (kube-root-ca.crt is kube-controller-manager's root-ca-certificate-publisher's work)", kind, ns, name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// writeItems writes a ConfigMap's or Secret's keys: the listed ones under
// their paths, or every key under its name.
func writeItems(write func(string, []byte) error, data map[string][]byte, items []corev1.KeyToPath) error {
	if len(items) == 0 {
		for k, v := range data {
			if err := write(k, v); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("no key %q", it.Key)
		}
		if err := write(it.Path, v); err != nil {
			return err
		}
	}
	return nil
}
