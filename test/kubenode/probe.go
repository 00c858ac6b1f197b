package kubenode

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs a container's HTTP readiness probe until ctx ends or the
// container exits, and marks it ready or not. Until the first success it
// probes every 100ms, not every periodSeconds as a kubelet does, so that a
// test does not wait for the second probe; then every periodSeconds, and
// failureThreshold failures in a row make it not ready.
func (p *provider) probe(ctx context.Context, pd *pod, c corev1.Container, ctr *container) {
	pr := c.ReadinessProbe
	g := pr.HTTPGet
	host := g.Host
	if host == "" {
		host = pd.ip
	}
	port := g.Port.IntValue()
	if g.Port.Type == intstr.String {
		for _, cp := range c.Ports {
			if cp.Name == g.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + g.Path
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet: probes do not verify
		DisableKeepAlives: true,
	}}
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	failureThreshold := int(max(pr.FailureThreshold, 1))
	if pr.PeriodSeconds == 0 {
		period = 10 * time.Second
	}
	if pr.FailureThreshold == 0 {
		failureThreshold = 3
	}
	select {
	case <-time.After(time.Duration(pr.InitialDelaySeconds) * time.Second):
	case <-ctx.Done():
		return
	}
	failures, everReady := 0, false
	for {
		ok := get(ctx, hc, url, g.HTTPHeaders)
		if ok {
			failures = 0
		} else {
			failures++
		}
		p.mu.Lock()
		was := ctr.ready
		switch {
		case ok:
			ctr.ready, everReady = true, true
		case failures >= failureThreshold:
			ctr.ready = false
		}
		if ctr.ready != was && ctr.running() {
			p.refreshLocked(pd)
		}
		p.mu.Unlock()
		wait := period
		if !everReady {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-ctr.exited:
			return
		case <-time.After(wait):
		}
	}
}

// get reports whether a probe's GET answers 200 to 399.
func get(ctx context.Context, hc *http.Client, url string, headers []corev1.HTTPHeader) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "kube-probe/kubenode")
	for _, h := range headers {
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}
