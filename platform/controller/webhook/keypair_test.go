package webhook_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/controller/webhook"
)

// writePair writes a self-signed certificate with serial into dir.
func writePair(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "webhook"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, webhook.CertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, webhook.KeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func servedSerial(t *testing.T, kp *webhook.KeyPair) int64 {
	t.Helper()
	c, err := kp.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	return c.Leaf.SerialNumber.Int64()
}

func TestKeyPair(t *testing.T) {
	t.Run("Missing", func(t *testing.T) {
		if _, err := webhook.LoadKeyPair(t.TempDir(), 0, nil); err == nil {
			t.Fatal("LoadKeyPair of an empty folder: got nil, want an error")
		}
	})
	t.Run("Reload", func(t *testing.T) {
		dir := t.TempDir()
		writePair(t, dir, 1)
		kp, err := webhook.LoadKeyPair(dir, time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := servedSerial(t, kp); got != 1 {
			t.Fatalf("serial: got %d, want 1", got)
		}
		writePair(t, dir, 2)
		time.Sleep(5 * time.Millisecond)
		if got := servedSerial(t, kp); got != 2 {
			t.Fatalf("serial after the files changed: got %d, want 2", got)
		}
		// A broken pair (half-written) leaves the last good one served.
		if err := os.WriteFile(filepath.Join(dir, webhook.KeyFile), []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if got := servedSerial(t, kp); got != 2 {
			t.Fatalf("serial after a broken key: got %d, want 2 still", got)
		}
	})
	t.Run("NotBeforeInterval", func(t *testing.T) {
		dir := t.TempDir()
		writePair(t, dir, 1)
		kp, err := webhook.LoadKeyPair(dir, time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		servedSerial(t, kp)
		writePair(t, dir, 2)
		if got := servedSerial(t, kp); got != 1 {
			t.Fatalf("serial within the check interval: got %d, want 1 (files are looked at once an interval)", got)
		}
	})
}
