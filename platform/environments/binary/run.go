package binary

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// stderrTail is how much of stderr a failure's 500 body shows.
	stderrTail = 4 << 10
	// leftoverDelay is how long processes the executable leaves behind may
	// keep its stdout or stderr open once it has exited.
	leftoverDelay = time.Second
	// stdinDrain is how long a finished run waits for the request body
	// copy before it interrupts the read.
	stdinDrain = 100 * time.Millisecond
)

// call runs the executable once for one request.
func (s *server) call(w http.ResponseWriter, r *http.Request) {
	exe := s.executable()
	if exe == "" {
		plain(w, http.StatusInternalServerError, "generic container: no function loaded")
		return
	}
	// The markers frame everything the program prints; the end marker
	// follows its exit, the copy of its output and the response's status.
	if end := s.startMarker(r); end != "" {
		defer s.stderr.marker(end)
	}
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // the program may write before it has read stdin

	cmd := exec.CommandContext(r.Context(), exe)
	cmd.Dir = filepath.Dir(exe)
	cmd.Env = append(os.Environ(), requestEnv(r)...)
	out := &bodyWriter{w: w, rc: rc}
	tail := &tailBuffer{max: stderrTail}
	cmd.Stdout = out
	cmd.Stderr = io.MultiWriter(s.stderr, tail)
	cmd.WaitDelay = leftoverDelay
	ownProcessGroup(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		plain(w, http.StatusInternalServerError, fmt.Sprintf("function failed: %v", err))
		return
	}
	if err := cmd.Start(); err != nil {
		plain(w, http.StatusInternalServerError, fmt.Sprintf("function failed: %v", err))
		return
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(stdin, r.Body)
		_ = stdin.Close()
	}()
	err = cmd.Wait()
	killProcessGroup(cmd)
	awaitCopy(copied, rc)

	switch {
	case out.wrote:
		if err != nil && r.Context().Err() == nil {
			s.logger.Debug("function failed after output", "executable", exe, "err", err)
		}
	case r.Context().Err() != nil:
		// Nobody is listening any more.
	case err != nil && !errors.Is(err, exec.ErrWaitDelay):
		plain(w, http.StatusInternalServerError, fmt.Sprintf("function failed: %v\n\n%s", err, tail.String()))
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// awaitCopy waits for the stdin copy; one still blocked reading the request
// body after the program is gone is interrupted: the body may no longer be
// read once the handler returns.
func awaitCopy(copied <-chan struct{}, rc *http.ResponseController) {
	t := time.NewTimer(stdinDrain)
	defer t.Stop()
	select {
	case <-copied:
		return
	case <-t.C:
	}
	_ = rc.SetReadDeadline(time.Now())
	<-copied
}

// requestEnv describes r the CGI way.
func requestEnv(r *http.Request) []string {
	length := ""
	if r.ContentLength >= 0 {
		length = strconv.FormatInt(r.ContentLength, 10)
	}
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	env := []string{
		"REQUEST_METHOD=" + r.Method,
		"REQUEST_URI=" + r.RequestURI,
		"PATH_INFO=" + r.URL.Path,
		"QUERY_STRING=" + r.URL.RawQuery,
		"CONTENT_TYPE=" + r.Header.Get("Content-Type"),
		"CONTENT_LENGTH=" + length,
		"SERVER_PROTOCOL=" + r.Proto,
		"REMOTE_ADDR=" + remote,
		"HTTP_HOST=" + r.Host,
	}
	for name, values := range r.Header {
		switch name {
		case "Content-Type", "Content-Length", "Host", "Proxy": // Proxy would set HTTP_PROXY
			continue
		}
		env = append(env, "HTTP_"+envName(name)+"="+strings.Join(values, ", "))
	}
	return env
}

func envName(header string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			return r
		default:
			return '_'
		}
	}, header)
}

// bodyWriter streams the program's stdout: the first byte commits a 200.
type bodyWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote bool
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.wrote = true
	n, err := b.w.Write(p)
	if err != nil {
		return n, err
	}
	if err := b.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return n, err
	}
	return n, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max  int
	buf  []byte
	lost bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.lost = true
	}
	return len(p), nil
}

// String is the tail, cut at a line start when older output was dropped.
func (t *tailBuffer) String() string {
	s := string(t.buf)
	if t.lost {
		if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
			s = s[i+1:]
		}
		s = "...\n" + s
	}
	return s
}
