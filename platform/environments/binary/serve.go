package binary

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lantern-faas/lantern/platform/api/runtime"
)

// shutdownGrace is how long in-flight requests may finish once ctx ends.
const shutdownGrace = 5 * time.Second

// Serve runs a generic binary instance on addr, loading code from
// userfuncDir, and blocks until ctx ends. A nil logger discards.
func Serve(ctx context.Context, addr, userfuncDir string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           newServer(userfuncDir, logger, os.Stderr),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	return nil
}

// server is the instance: generic until exe is set.
type server struct {
	userfuncDir string
	logger      *slog.Logger
	stderr      *logWriter // the function's log

	mu  sync.Mutex
	exe string
}

func newServer(userfuncDir string, logger *slog.Logger, stderr io.Writer) *server {
	return &server{userfuncDir: userfuncDir, logger: logger, stderr: &logWriter{w: stderr}}
}

func (s *server) executable() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exe
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == runtime.PathHealthz && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && (p == runtime.PathSpecializeV1 || p == runtime.PathSpecializeV2):
		s.specialize(w, r)
	default:
		s.call(w, r)
	}
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func (s *server) specialize(w http.ResponseWriter, r *http.Request) {
	if s.executable() != "" {
		plain(w, http.StatusBadRequest, "Not a generic container")
		return
	}
	req := runtime.LoadRequest{FilePath: filepath.Join(s.userfuncDir, "user")}
	if r.URL.Path == runtime.PathSpecializeV2 {
		req = runtime.LoadRequest{}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			plain(w, http.StatusBadRequest, fmt.Sprintf("bad specialize request: %v", err))
			return
		}
		if req.FilePath == "" {
			plain(w, http.StatusBadRequest, "bad specialize request: filepath is required")
			return
		}
	}
	if !filepath.IsAbs(req.FilePath) {
		req.FilePath = filepath.Join(s.userfuncDir, req.FilePath)
	}
	name := ""
	if req.FunctionMetadata != nil {
		name = req.FunctionMetadata.Name
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exe != "" {
		plain(w, http.StatusBadRequest, "Not a generic container")
		return
	}
	exe, err := resolveExecutable(req.FilePath, req.FunctionName)
	if err != nil {
		s.logger.Info("specialize failed", "function", name, "err", err)
		plain(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.exe = exe
	s.logger.Info("specialized", "function", name, "executable", exe)
	w.WriteHeader(http.StatusOK)
}
