package router

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"time"
)

// upstreams pools keep-alive connections to instances. A call runs on the
// handler's goroutine end to end: it writes the request and reads the
// response on the connection itself, with no transport goroutines to hand
// off to, which is most of what a proxy hop costs on loopback.
type upstreams struct {
	dialer      net.Dialer
	idleTimeout time.Duration
	maxIdle     int

	mu   sync.Mutex
	idle map[string][]*upConn
}

// upConn is one connection to an instance.
type upConn struct {
	net.Conn
	addr      string
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool
}

func newUpstreams() *upstreams {
	return &upstreams{
		dialer:      net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second},
		idleTimeout: 30 * time.Second, // below the runtimes' own keep-alive timeouts
		maxIdle:     64,               // per instance: enough for bursts, bounded memory after them
		idle:        map[string][]*upConn{},
	}
}

// get returns an idle connection to addr, or dials one.
func (u *upstreams) get(ctx context.Context, addr string) (*upConn, error) {
	now := time.Now()
	u.mu.Lock()
	for list := u.idle[addr]; len(list) > 0; list = u.idle[addr] {
		c := list[len(list)-1]
		u.idle[addr] = list[:len(list)-1]
		if now.Sub(c.idleSince) < u.idleTimeout {
			u.mu.Unlock()
			c.reused = true
			return c, nil
		}
		_ = c.Conn.Close()
	}
	u.mu.Unlock()
	nc, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &upConn{Conn: nc, addr: addr, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// put returns a healthy connection for reuse.
func (u *upstreams) put(c *upConn) {
	c.idleSince = time.Now()
	u.mu.Lock()
	if len(u.idle[c.addr]) < u.maxIdle {
		u.idle[c.addr] = append(u.idle[c.addr], c)
		c = nil
	}
	u.mu.Unlock()
	if c != nil {
		_ = c.Conn.Close()
	}
}

// closeIdle closes the idle connections to addr (an instance that went
// away), or to every instance when addr is empty.
func (u *upstreams) closeIdle(addr string) {
	u.mu.Lock()
	var drop []*upConn
	if addr == "" {
		for a, list := range u.idle {
			drop = append(drop, list...)
			delete(u.idle, a)
		}
	} else {
		drop = u.idle[addr]
		delete(u.idle, addr)
	}
	u.mu.Unlock()
	for _, c := range drop {
		_ = c.Conn.Close()
	}
}

// sweep closes the connections idle for longer than idleTimeout, every
// half of it, until ctx ends: after a burst, the connections it opened
// would otherwise hold their buffers until an instance goes away.
func (u *upstreams) sweep(ctx context.Context) {
	t := time.NewTicker(u.idleTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			u.sweepOnce(now)
		}
	}
}

// sweepOnce closes the connections idle for longer than idleTimeout at now.
func (u *upstreams) sweepOnce(now time.Time) {
	var drop []*upConn
	u.mu.Lock()
	for addr, list := range u.idle {
		keep := list[:0]
		for _, c := range list {
			if now.Sub(c.idleSince) < u.idleTimeout {
				keep = append(keep, c)
			} else {
				drop = append(drop, c)
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(u.idle, addr)
		} else {
			u.idle[addr] = keep
		}
	}
	u.mu.Unlock()
	for _, c := range drop {
		_ = c.Conn.Close()
	}
}

// roundTrip writes a request for req with write on c and reads the
// response head. The connection is interrupted when ctx ends, including
// while the caller reads the body; call the returned stop once done with
// the connection.
func (c *upConn) roundTrip(ctx context.Context, req *http.Request, write func(*bufio.Writer) error) (*http.Response, func() bool, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.Conn.SetDeadline(time.Unix(1, 0)) })
	if err := write(c.bw); err != nil {
		return nil, stop, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, stop, err
	}
	resp, err := http.ReadResponse(c.br, req)
	return resp, stop, err
}

// hopHeaders are meaningful for one connection only and are not forwarded
// (canonical names).
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

func removeHopHeaders(h http.Header) {
	for _, name := range connectionTokens(h) {
		delete(h, name)
	}
	for k := range hopHeaders {
		delete(h, k)
	}
}

// connectionTokens are the headers h's Connection header names, which
// concern one connection only (canonical names).
func connectionTokens(h http.Header) []string {
	var out []string
	for _, v := range h["Connection"] {
		for _, name := range splitComma(v) {
			out = append(out, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if f := trimSpace(s[start:i]); f != "" {
				out = append(out, f)
			}
			start = i + 1
		}
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
