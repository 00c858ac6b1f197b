package logs

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// ackTimeout bounds writing an ack to a sender.
const ackTimeout = 10 * time.Second

// serveConn decodes messages from one sender. A message is acknowledged
// (when the sender asked) only once its records are queued; while the queue
// is full the connection is not read, which pushes back on the sender.
func (c *Collector) serveConn(conn net.Conn) {
	defer c.untrack(conn)
	defer conn.Close()
	r := msgp.NewReaderSize(conn, 64<<10)
	var ack []byte
	for {
		msg, err := readForward(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Debug("forward connection dropped", "remote", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		c.m.received.Add(float64(len(msg.records)))
		recs := msg.records
		if c.rewrite != nil && len(recs) > 0 {
			recs = c.rewrite(msg.tag, recs)
		}
		if len(recs) > 0 {
			select {
			case c.in <- recs:
			case <-c.stopping:
				return // not acknowledged: the sender resends it
			}
		}
		if msg.chunk == "" {
			continue
		}
		ack = appendAck(ack[:0], msg.chunk)
		_ = conn.SetWriteDeadline(time.Now().Add(ackTimeout))
		if _, err := conn.Write(ack); err != nil {
			return
		}
	}
}
