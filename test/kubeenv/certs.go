package kubeenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// makeCerts writes into dir, with openssl: a CA; the API server's serving
// certificate for 127.0.0.1 and localhost; an admin client certificate in
// system:masters; the service-account key pair; a token file.
func makeCerts(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ext := filepath.Join(dir, "server.ext")
	if err := os.WriteFile(ext, []byte("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n"), 0o600); err != nil {
		return err
	}
	client := filepath.Join(dir, "client.ext")
	if err := os.WriteFile(client, []byte("extendedKeyUsage=clientAuth\n"), 0o600); err != nil {
		return err
	}
	steps := [][]string{
		{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=lantern-test-ca", "-keyout", "ca.key", "-out", "ca.crt"},
		{"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver", "-keyout", "apiserver.key", "-out", "apiserver.csr"},
		{"x509", "-req", "-in", "apiserver.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", "apiserver.crt"},
		{"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/O=system:masters/CN=admin", "-keyout", "admin.key", "-out", "admin.csr"},
		{"x509", "-req", "-in", "admin.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "3650", "-extfile", client, "-out", "admin.crt"},
		{"genrsa", "-out", "sa.key", "2048"},
		{"rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"},
	}
	for _, args := range steps {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("openssl %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(adminToken+",admin,admin,system:masters\n"), 0o600)
}
