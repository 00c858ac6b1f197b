package webhook

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Names of the files in a certificate folder, as in a kubernetes.io/tls
// Secret mounted as a volume.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// KeyPair serves the certificate and key in a folder to TLS handshakes and
// reads them again when they change (a Secret volume is updated in place
// when the Secret is): at most once every CheckInterval, a handshake looks
// at the files' sizes and times, which costs two stats.
type KeyPair struct {
	dir      string
	interval time.Duration
	logger   *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // sizes and times of the files cert was read from
	checked time.Time
}

// DefaultCheckInterval is how often a KeyPair looks for new files.
const DefaultCheckInterval = 10 * time.Second

// LoadKeyPair reads tls.crt and tls.key from dir; interval is how often
// to look for new ones (DefaultCheckInterval when zero).
func LoadKeyPair(dir string, interval time.Duration, logger *slog.Logger) (*KeyPair, error) {
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	kp := &KeyPair{dir: dir, interval: interval, logger: logger}
	stamp, err := kp.stampNow()
	if err != nil {
		return nil, err
	}
	if err := kp.load(stamp); err != nil {
		return nil, err
	}
	return kp, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (kp *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	if now := time.Now(); now.Sub(kp.checked) >= kp.interval {
		kp.checked = now
		stamp, err := kp.stampNow()
		if err == nil && stamp != kp.stamp {
			err = kp.load(stamp)
			if err == nil {
				kp.logger.Info("webhook certificate reloaded", "dir", kp.dir, "not_after", kp.cert.Leaf.NotAfter)
			}
		}
		if err != nil {
			// Half-written files, or a Secret being replaced: keep
			// serving the last good pair and look again later.
			kp.logger.Warn("webhook certificate not reloaded; serving the previous one", "dir", kp.dir, "err", err)
		}
	}
	return kp.cert, nil
}

// load reads the pair; the caller holds mu, or owns kp.
func (kp *KeyPair) load(stamp string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(kp.dir, CertFile), filepath.Join(kp.dir, KeyFile))
	if err != nil {
		return fmt.Errorf("load %s and %s from %s: %w", CertFile, KeyFile, kp.dir, err)
	}
	kp.cert, kp.stamp = &cert, stamp
	return nil
}

func (kp *KeyPair) stampNow() (string, error) {
	var stamp string
	for _, name := range []string{CertFile, KeyFile} {
		fi, err := os.Stat(filepath.Join(kp.dir, name))
		if err != nil {
			return "", err
		}
		stamp += fmt.Sprintf("%d:%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return stamp, nil
}
