package router

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestUpstreamsSweepClosesOnlyStaleConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	u := newUpstreams()
	u.idleTimeout = time.Minute
	addr := ln.Addr().String()
	var conns []*upConn
	for range 3 {
		c, err := u.get(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		u.put(c)
	}
	now := time.Now()
	conns[0].idleSince = now.Add(-2 * time.Minute) // stale
	conns[1].idleSince = now.Add(-30 * time.Second)

	u.sweepOnce(now)
	if n := len(u.idle[addr]); n != 2 {
		t.Fatalf("%d idle connections after the sweep, want 2", n)
	}
	if err := conns[0].Conn.SetDeadline(time.Time{}); err == nil {
		t.Error("the stale connection is still open")
	}
	for _, c := range conns[1:] {
		if err := c.Conn.SetDeadline(time.Time{}); err != nil {
			t.Errorf("a fresh connection was closed: %v", err)
		}
	}

	u.sweepOnce(now.Add(2 * time.Minute))
	if _, ok := u.idle[addr]; ok {
		t.Errorf("idle list of %s kept after every connection went stale", addr)
	}
}
