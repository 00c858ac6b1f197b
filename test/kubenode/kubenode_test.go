package kubenode_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/logs/cri"
	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/kubenode"
	"github.com/lantern-faas/lantern/test/testenv"
)

func TestNode(t *testing.T) {
	dir := t.TempDir()
	cluster, err := kubeenv.Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Stop)
	ctx := t.Context()
	// No controller-manager: pods need the default ServiceAccount made by hand.
	if _, err := cluster.Kubectl(ctx, "", "create", "serviceaccount", "default", "-n", "default"); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cluster.Config)
	began := time.Now()
	podLogs := t.TempDir()
	n, err := kubenode.Start(ctx, cs, kubenode.Options{Name: "node-a", Dir: t.TempDir(), PodLogsDir: podLogs, Images: map[string][]string{
		"test/http":   {"/bin/sh", "-c", `exec python3 -m http.server 8080 --bind "$POD_IP"`},
		"test/talker": {"/bin/sh", "-c", `echo out one; sleep 0.1; echo err one >&2; sleep 0.1; python3 -c 'print("x" * 20000)'; printf 'out two\n'; exec sleep 600`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node ready in %v", time.Since(began).Round(time.Millisecond))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			n.Stop()
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		node, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err == nil && nodeReady(node) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-a: got %v, %v; want a Ready Node within 10 s", node, err)
		}
	}
	t.Logf("Node Ready in the API %v after start", time.Since(began).Round(time.Millisecond))

	newPod := func(name, image string) *corev1.Pod {
		grace := int64(1)
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.PodSpec{NodeName: "node-a", RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &grace,
				Containers: []corev1.Container{{Name: "main", Image: image}}},
		}
		created := time.Now()
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cs.CoreV1().Pods("default").Delete(context.Background(), name, metav1.DeleteOptions{}) })
		got := waitPod(t, cs, name, func(p *corev1.Pod) bool { return p.Status.Phase != "" && p.Status.Phase != corev1.PodPending })
		t.Logf("pod %s %s after %v", name, got.Status.Phase, time.Since(created).Round(time.Millisecond))
		return got
	}

	// A pod runs, on its own loopback address, and serves.
	web := newPod("web", "test/http")
	if web.Status.Phase != corev1.PodRunning || !strings.HasPrefix(web.Status.PodIP, "127.77.") {
		t.Fatalf("pod web: got phase %s, IP %q; want Running on 127.77.x.y", web.Status.Phase, web.Status.PodIP)
	}
	url := fmt.Sprintf("http://%s:8080/", web.Status.PodIP)
	eventuallyOK(t, url)

	// A second pod gets another address.
	web2 := newPod("web2", "test/http")
	if web2.Status.PodIP == web.Status.PodIP {
		t.Fatalf("pods web and web2 share the IP %s", web.Status.PodIP)
	}
	eventuallyOK(t, fmt.Sprintf("http://%s:8080/", web2.Status.PodIP))

	// Output goes to the pod's CRI log file, as a kubelet keeps it, and
	// kubectl logs reads it through the API server.
	talker := newPod("talker", "test/talker")
	logFile := filepath.Join(podLogs, "default_talker_"+string(talker.UID), "main", "0.log")
	var entries []cri.Entry
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		entries = readEntries(t, logFile)
		if len(entries) >= 5 || time.Now().After(deadline) {
			break
		}
	}
	var got []string
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s %v %d", e.Stream, e.Partial, len(e.Message)))
	}
	// The 20,000-byte line is cut as the runtimes cut it: 16 KiB, then the rest.
	if want := []string{"stdout false 7", "stderr false 7", "stdout true 16384", "stdout false 3616", "stdout false 7"}; !slices.Equal(got, want) {
		t.Fatalf("entries of %s: got %v, want %v", logFile, got, want)
	}
	out, err := cluster.Kubectl(ctx, "", "logs", "talker")
	if want := "out one\nerr one\n" + strings.Repeat("x", 20000) + "\nout two\n"; err != nil || out != want {
		t.Fatalf("kubectl logs talker: got %.200q, %v; want the four lines", out, err)
	}
	out, err = cluster.Kubectl(ctx, "", "logs", "talker", "--tail=1", "--timestamps")
	if ts, line, _ := strings.Cut(out, " "); err != nil || line != "out two\n" || !strings.HasPrefix(ts, entries[4].Time.UTC().Format(time.RFC3339Nano)[:19]) {
		t.Fatalf("kubectl logs talker --tail=1 --timestamps: got %q, %v; want the last line with its time", out, err)
	}
	out, err = cluster.Kubectl(ctx, "", "logs", "talker", "--since-time", time.Now().Add(time.Hour).Format(time.RFC3339))
	if err != nil || out != "" {
		t.Fatalf("kubectl logs talker --since-time <in an hour>: got %q, %v; want nothing", out, err)
	}

	// A process that dies fails its pod.
	pid := n.PIDs("default", "web2")["main"]
	if pid == 0 {
		t.Fatal("no process for pod web2")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	failed := waitPod(t, cs, "web2", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if cs := failed.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode == 0 {
		t.Fatalf("pod web2 after its process was killed: got %+v, want a terminated container with a non-zero exit code", cs)
	}

	// restartPolicy Always: a process that dies is started again, and the
	// readiness probe makes the pod Ready once it serves.
	always := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web3", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "node-a", RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{
			Name: "main", Image: "test/http", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}},
		}}},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, always, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Pods("default").Delete(context.Background(), "web3", metav1.DeleteOptions{}) })
	waitPod(t, cs, "web3", podReady)
	pid = n.PIDs("default", "web3")["main"]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := waitPod(t, cs, "web3", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 1 && podReady(p)
	})
	if st := restarted.Status.ContainerStatuses[0]; restarted.Status.Phase != corev1.PodRunning || st.LastTerminationState.Terminated == nil ||
		st.LastTerminationState.Terminated.ExitCode != 137 || n.PIDs("default", "web3")["main"] == pid {
		t.Fatalf("pod web3 after its process was killed: got phase %s, %+v; want Running again with a new process, the last run ended with 137",
			restarted.Status.Phase, st)
	}

	// Deleting a pod stops its process and the pod goes away.
	pid = n.PIDs("default", "web")["main"]
	if err := cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod web still there 15 s after its deletion (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if processAlive(pid) {
		t.Fatalf("process %d of the deleted pod web still runs", pid)
	}

	// An image the node does not know fails the pod with a message saying so.
	bad := newPod("bad", "nowhere/unknown")
	if bad.Status.Phase != corev1.PodFailed || !strings.Contains(bad.Status.Message, `"nowhere/unknown" is not mapped`) {
		t.Fatalf("pod bad: got phase %s, message %q; want Failed naming the image", bad.Status.Phase, bad.Status.Message)
	}

	// Stopping the node deletes its Node object.
	n.Stop()
	stopped = true
	if _, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Node after Stop: got %v, want not found", err)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// readEntries parses a CRI log file.
func readEntries(t *testing.T, path string) []cri.Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []cri.Entry
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.HasSuffix(line, "\n") {
			break // being written
		}
		e, err := cri.Parse([]byte(strings.TrimSuffix(line, "\n")))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, e)
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitPod(t *testing.T, cs kubernetes.Interface, name string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := cs.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{})
		if err == nil && done(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: got %+v (%v), want the awaited state within 20 s", name, p.Status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func eventuallyOK(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: got %v, want 200 within 15 s", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func processAlive(pid int) bool {
	st := testenv.PIDState(pid)
	return pid != 0 && st != "" && st != "Z" // a zombie has exited
}
