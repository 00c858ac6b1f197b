package kubenode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/lantern-faas/lantern/test/testenv"
)

// kubeletServer is where the node serves the kubelet API: container logs
// for `kubectl logs`, which the API server proxies there. The API server
// is given no kubelet CA, so it accepts the self-signed certificate.
type kubeletServer struct {
	addr string
	port int
	mux  *http.ServeMux
	cert tls.Certificate
}

func newKubeletServer() (*kubeletServer, error) {
	// virtual-kubelet listens itself; the port must be known before, for
	// the Node status. A port taken in between fails the node's start.
	// testenv.FreeAddr picks below the ephemeral range, where no outgoing
	// connection takes it meanwhile.
	addr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, p, _ := net.SplitHostPort(addr)
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, err
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	return &kubeletServer{addr: addr, port: port, mux: http.NewServeMux(), cert: cert}, nil
}

func (k *kubeletServer) tls(cfg *tls.Config) error {
	cfg.Certificates = append(cfg.Certificates, k.cert)
	return nil
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kubenode"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
