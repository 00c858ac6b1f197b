package kubenode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	vkapi "github.com/virtual-kubelet/virtual-kubelet/node/api"

	"github.com/lantern-faas/lantern/logs/cri"
)

// maxEntry is the longest entry a runtime writes (containerd's and CRI-O's
// default max_container_log_line_size): longer lines are cut into partial
// entries.
const maxEntry = 16 << 10

// PodLogDir is a pod's folder of container logs, as a kubelet names it.
func PodLogDir(root, namespace, name, uid string) string {
	return filepath.Join(root, namespace+"_"+name+"_"+uid)
}

// logFile is a container's log file, <restarts>.log, that both its streams
// write entries to.
type logFile struct {
	mu sync.Mutex
	f  *os.File
}

func createLogFile(dir string, restarts int) (*logFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(restarts)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f}, nil
}

func (l *logFile) write(b []byte) {
	l.mu.Lock()
	_, _ = l.f.Write(b) // one write per entry: the streams' entries never interleave
	l.mu.Unlock()
}

func (l *logFile) close() { _ = l.f.Close() }

// streamWriter turns one stream's output into entries as a runtime does:
// an entry per line, stamped when the line was read, a line longer than
// maxEntry cut into partial entries. exec copies the pipe into it, so the
// container's Wait returns once every entry is written.
type streamWriter struct {
	file   *logFile
	stream string
	buf    []byte // the start of a line not ended yet
	out    []byte
}

func (w *streamWriter) Write(p []byte) (int, error) {
	n := len(p)
	now := time.Now()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxEntry {
				w.entry(now, w.buf[:maxEntry], true)
				w.buf = append(w.buf[:0], w.buf[maxEntry:]...)
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		p = p[i+1:]
		for len(w.buf) > maxEntry {
			w.entry(now, w.buf[:maxEntry], true)
			w.buf = append(w.buf[:0], w.buf[maxEntry:]...)
		}
		w.entry(now, w.buf, false)
		w.buf = w.buf[:0]
	}
	return n, nil
}

// flush writes a last line that had no newline, once the stream ended.
func (w *streamWriter) flush() {
	if len(w.buf) > 0 {
		w.entry(time.Now(), w.buf, false)
		w.buf = w.buf[:0]
	}
}

func (w *streamWriter) entry(t time.Time, msg []byte, partial bool) {
	w.out = cri.Append(w.out[:0], cri.Entry{Time: t, Stream: w.stream, Partial: partial, Message: msg})
	w.file.write(w.out)
}

// GetContainerLogs serves `kubectl logs` from the container's log file:
// tailLines, sinceSeconds, sinceTime, timestamps, limitBytes and follow.
func (p *provider) GetContainerLogs(ctx context.Context, namespace, name, cname string, opts vkapi.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	pd := p.pods[key(namespace, name)]
	var ctr *container
	var dir string
	if pd != nil {
		ctr = pd.containers[cname]
		dir = filepath.Join(PodLogDir(p.opts.PodLogsDir, namespace, name, string(pd.obj.UID)), cname)
	}
	p.mu.Unlock()
	switch {
	case pd == nil:
		return nil, errdefs.NotFoundf("pod %s/%s is not on node %s", namespace, name, p.opts.Name)
	case ctr == nil:
		return nil, errdefs.NotFoundf("container %s of pod %s/%s did not start", cname, namespace, name)
	case opts.Previous:
		return nil, errdefs.NotFoundf("container %s of pod %s/%s: this node serves no previous logs (they are in %s)", cname, namespace, name, dir)
	}
	since := opts.SinceTime
	if opts.SinceSeconds > 0 {
		since = time.Now().Add(-time.Duration(opts.SinceSeconds) * time.Second)
	}
	lr := &logReader{fl: cri.NewFollower(dir, cri.Position{}), since: since, timestamps: opts.Timestamps, ctr: ctr}
	lines, err := lr.read()
	if err != nil {
		lr.fl.Close()
		return nil, err
	}
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	first := bytes.Join(lines, nil)
	if !opts.Follow {
		lr.fl.Close()
		return io.NopCloser(limit(bytes.NewReader(first), opts.LimitBytes)), nil
	}
	pr, pw := io.Pipe()
	go lr.follow(ctx, pw, first)
	return readCloser{limit(pr, opts.LimitBytes), pr}, nil
}

// logReader turns a container's entries into the lines kubectl shows.
type logReader struct {
	fl         *cri.Follower
	j          cri.Joiner
	since      time.Time
	timestamps bool
	ctr        *container
}

// read returns the lines written so far, each with its newline.
func (lr *logReader) read() ([][]byte, error) {
	var out [][]byte
	for {
		e, err := lr.fl.Next()
		switch {
		case errors.Is(err, io.EOF):
			return out, nil
		case errors.Is(err, cri.ErrMalformed):
			continue
		case err != nil:
			return out, fmt.Errorf("read container log: %w", err)
		}
		l, ok := lr.j.Add(e)
		if !ok || l.Time.Before(lr.since) {
			continue
		}
		var b []byte
		if lr.timestamps {
			b = append(l.Time.UTC().AppendFormat(b, time.RFC3339Nano), ' ')
		}
		b = append(append(b, l.Text...), '\n')
		out = append(out, b)
	}
}

// follow writes first, then new lines as they are written, until the
// container has exited and its log is read, or ctx ends.
func (lr *logReader) follow(ctx context.Context, w *io.PipeWriter, first []byte) {
	defer lr.fl.Close()
	if _, err := w.Write(first); err != nil {
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		exited := !lr.ctr.running()
		if exited {
			lr.fl.Done()
		}
		lines, err := lr.read()
		for _, l := range lines {
			if _, werr := w.Write(l); werr != nil {
				return
			}
		}
		if err != nil || exited {
			_ = w.CloseWithError(err)
			return
		}
		select {
		case <-ctx.Done():
			_ = w.CloseWithError(ctx.Err())
			return
		case <-tick.C:
		}
	}
}

func limit(r io.Reader, n int) io.Reader {
	if n > 0 {
		return io.LimitReader(r, int64(n))
	}
	return r
}

type readCloser struct {
	io.Reader
	io.Closer
}
