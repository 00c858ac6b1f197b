package kubenode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// services is the node's service proxy, what kube-proxy's old userspace
// mode did: every Service with a cluster IP gets a loopback address of its
// own, 127.78.<base>.n, kept while the Service lives; on each of its ports
// a TCP listener forwards every connection to one of the ready endpoints of
// the Service's EndpointSlices (round robin, the next one when a dial
// fails). The Services' names are written into each pod's /etc/hosts
// (<svc> in the pod's namespace, <svc>.<ns>, <svc>.<ns>.svc,
// <svc>.<ns>.svc.cluster.local), as the cluster's DNS would answer them.
// The API server's own Service (default/kubernetes) is left out: pods
// reach the API server at KUBERNETES_SERVICE_HOST.
type services struct {
	client kubernetes.Interface
	base   int
	slices discoverylisters.EndpointSliceLister

	mu     sync.Mutex
	next   int
	byKey  map[string]*service    // namespace/name
	hosts  map[string]podHostsRef // path of a pod's hosts file
	closed bool
}

type podHostsRef struct{ namespace, name, ip string }

type service struct {
	namespace, name, ip string
	ports               map[int32]*servicePort // by service port
}

type servicePort struct {
	name string // the port's name, matched against the EndpointSlices'
	ln   net.Listener
	rr   int
}

func newServices(client kubernetes.Interface, base int) *services {
	return &services{client: client, base: base, byKey: map[string]*service{}, hosts: map[string]podHostsRef{}}
}

// start follows Services and EndpointSlices until ctx ends.
func (s *services) start(ctx context.Context) error {
	f := informers.NewSharedInformerFactory(s.client, 0)
	svcInf := f.Core().V1().Services().Informer()
	sliceInf := f.Discovery().V1().EndpointSlices().Informer()
	s.slices = f.Discovery().V1().EndpointSlices().Lister()
	if _, err := svcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.sync(obj, false) },
		UpdateFunc: func(_, obj any) { s.sync(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			s.sync(obj, true)
		},
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), svcInf.HasSynced, sliceInf.HasSynced) {
		return errors.New("service proxy: the Services' and EndpointSlices' informers did not sync")
	}
	return nil
}

// ip returns a Service's address, or "".
func (s *services) ip(namespace, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.byKey[key(namespace, name)]; sv != nil {
		return sv.ip
	}
	return ""
}

// sync makes a Service's address and listeners match the object.
func (s *services) sync(obj any, deleted bool) {
	svc, ok := obj.(*corev1.Service)
	if !ok || (svc.Namespace == "default" && svc.Name == "kubernetes") {
		return
	}
	k := key(svc.Namespace, svc.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	sv := s.byKey[k]
	if deleted || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		if sv != nil {
			for _, sp := range sv.ports {
				sp.ln.Close()
			}
			delete(s.byKey, k)
			s.writeHostsLocked()
		}
		return
	}
	if sv == nil {
		sv = &service{namespace: svc.Namespace, name: svc.Name, ip: s.allocLocked(), ports: map[int32]*servicePort{}}
		s.byKey[k] = sv
		defer s.writeHostsLocked()
	}
	want := map[int32]string{}
	for _, p := range svc.Spec.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			want[p.Port] = p.Name
		}
	}
	for port, sp := range sv.ports {
		if name, ok := want[port]; !ok || name != sp.name {
			sp.ln.Close()
			delete(sv.ports, port)
		}
	}
	for port, name := range want {
		if sv.ports[port] != nil {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(sv.ip, strconv.Itoa(int(port))))
		if err != nil {
			fmt.Fprintf(os.Stderr, "kubenode: service %s port %d: %v\n", k, port, err)
			continue
		}
		sp := &servicePort{name: name, ln: ln}
		sv.ports[port] = sp
		go s.serve(sv, sp)
	}
}

func (s *services) allocLocked() string {
	for {
		s.next++
		if s.next&255 != 0 && s.next&255 != 255 {
			return fmt.Sprintf("127.78.%d.%d", (s.base+s.next>>8)&255, s.next&255)
		}
	}
}

// serve forwards the connections of one service port until its listener
// is closed.
func (s *services) serve(sv *service, sp *servicePort) {
	for {
		conn, err := sp.ln.Accept()
		if err != nil {
			return
		}
		go s.forward(sv, sp, conn)
	}
}

func (s *services) forward(sv *service, sp *servicePort, conn net.Conn) {
	defer conn.Close()
	eps := s.endpoints(sv, sp.name)
	s.mu.Lock()
	sp.rr++
	first := sp.rr
	s.mu.Unlock()
	var up net.Conn
	for i := range eps {
		c, err := net.DialTimeout("tcp", eps[(first+i)%len(eps)], 5*time.Second)
		if err == nil {
			up = c
			break
		}
	}
	if up == nil {
		return // no ready endpoint: the connection is closed, as kube-proxy rejects it
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, conn)
	go pipe(conn, up)
	<-done
	<-done
}

// endpoints are the ready addresses (ip:port) of a service port, from the
// Service's EndpointSlices.
func (s *services) endpoints(sv *service, portName string) []string {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: sv.name})
	list, err := s.slices.EndpointSlices(sv.namespace).List(sel)
	if err != nil {
		return nil
	}
	var out []string
	for _, sl := range list {
		var port int32
		for _, p := range sl.Ports {
			if p.Port != nil && (p.Name == nil && portName == "" || p.Name != nil && *p.Name == portName) {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if (ep.Conditions.Ready == nil || *ep.Conditions.Ready) && len(ep.Addresses) > 0 {
				out = append(out, net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port))))
			}
		}
	}
	sort.Strings(out)
	return out
}

// addHosts writes a pod's /etc/hosts at path and keeps it current.
func (s *services) addHosts(path, namespace, name, ip string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref := podHostsRef{namespace: namespace, name: name, ip: ip}
	s.hosts[path] = ref
	return os.WriteFile(path, s.hostsLocked(ref), 0o644)
}

func (s *services) removeHosts(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.hosts, path)
}

// writeHostsLocked rewrites every pod's hosts file in place: it is
// bind-mounted, so a new file would not be seen.
func (s *services) writeHostsLocked() {
	for path, ref := range s.hosts {
		if err := os.WriteFile(path, s.hostsLocked(ref), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "kubenode: %s: %v\n", path, err)
		}
	}
}

func (s *services) hostsLocked(ref podHostsRef) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", ref.ip, ref.name)
	keys := make([]string, 0, len(s.byKey))
	for k := range s.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sv := s.byKey[k]
		names := []string{sv.name + "." + sv.namespace, sv.name + "." + sv.namespace + ".svc", sv.name + "." + sv.namespace + ".svc.cluster.local"}
		if sv.namespace == ref.namespace {
			names = append([]string{sv.name}, names...)
		}
		fmt.Fprintf(&b, "%s\t%s\n", sv.ip, strings.Join(names, " "))
	}
	return []byte(b.String())
}

// stop closes every listener.
func (s *services) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, sv := range s.byKey {
		for _, sp := range sv.ports {
			sp.ln.Close()
		}
	}
}
