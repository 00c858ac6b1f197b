package logs

import (
	"bytes"
	"net"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/tinylib/msgp/msgp"
)

// run is the Shipper's only sender: it posts queued records, or, while
// spooling, resends the spool chunk by chunk with backoff.
func (s *Shipper) run() {
	defer close(s.done)
	backoff := s.cfg.RetryMin
	var deadline time.Time
	for {
		s.mu.Lock()
		closing, failed, spooling := s.closing, s.failed, s.spooling
		idle := s.queue.len() == 0 && len(s.inflight) == 0
		s.mu.Unlock()
		if closing && deadline.IsZero() {
			deadline = time.Now().Add(s.cfg.FlushTimeout)
		}
		if closing && (time.Now().After(deadline) || (idle && !spooling)) {
			s.stop()
			return
		}
		switch {
		case failed:
			s.resetClient()
		case spooling:
			if s.resendStep() {
				backoff = s.cfg.RetryMin
				continue
			}
			if closing {
				s.stop() // collector unreachable: keep the rest for next time
				return
			}
			// Unreachable: what waits in memory goes to disk meanwhile.
			s.mu.Lock()
			s.spoolLocked(s.queue.drain()...)
			s.mu.Unlock()
			s.sleep(backoff)
			backoff = min(2*backoff, s.cfg.RetryMax)
		default:
			if !s.postQueued() {
				s.wait(time.Second)
			}
		}
	}
}

// stop closes the client and moves everything not acknowledged to the spool.
func (s *Shipper) stop() {
	s.resetClient()
	s.mu.Lock()
	s.spoolLocked(s.queue.drain()...)
	s.mu.Unlock()
	s.updateGauges()
}

// wait blocks until signalled or d passes, and refreshes the gauges.
func (s *Shipper) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.wake:
	case <-t.C:
	}
	s.updateGauges()
}

// sleep waits d, or less if the Shipper is closing.
func (s *Shipper) sleep(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		s.wait(time.Until(end))
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if closing {
			return
		}
	}
}

func (s *Shipper) updateGauges() {
	s.mu.Lock()
	q := s.queue.len()
	s.mu.Unlock()
	_, fill := s.spool.stats()
	s.m.memoryFill.Set(float64(q) / float64(s.cfg.QueueSize))
	s.m.spoolFill.Set(fill)
}

// postQueued hands queued records to the client, up to the window. It
// reports whether it handed any.
func (s *Shipper) postQueued() bool {
	s.mu.Lock()
	recs := s.queue.pop(s.cfg.Window - len(s.inflight))
	for _, r := range recs {
		s.inflight = append(s.inflight, inflight{rec: r})
	}
	s.mu.Unlock()
	if len(recs) == 0 {
		return false
	}
	if i := s.post(recs); i < len(recs) {
		// The client refused recs[i:]; they never reach a callback.
		s.mu.Lock()
		s.inflight = s.inflight[:len(s.inflight)-(len(recs)-i)]
		s.spoolLocked(recs[i:]...)
		s.spooling, s.failed = true, true
		s.mu.Unlock()
	}
	return true
}

// post hands recs to the client in order and returns how many it accepted.
func (s *Shipper) post(recs []Record) int {
	c := s.ensureClient()
	if c == nil {
		return 0
	}
	for i, r := range recs {
		if err := c.PostWithTime(ForwardTag, r.Time, wireRecord(r)); err != nil {
			s.log.Debug("forward client refused a record", "err", err)
			return i
		}
		s.m.delay.Observe(time.Since(r.Time).Seconds())
	}
	return len(recs)
}

// resendStep resends one chunk of the spool once nothing is in flight, and
// leaves spooling mode when the spool is empty. Records queued meanwhile are
// newer than the spooled ones (an overflowing queue spills to the spool
// first), so sending the queue after the spool keeps capture order. It
// reports progress: false means the collector is unreachable or did not
// acknowledge the chunk, so the caller backs off.
func (s *Shipper) resendStep() bool {
	s.mu.Lock()
	busy := len(s.inflight) > 0
	s.mu.Unlock()
	if busy {
		s.wait(s.cfg.AckTimeout)
		return true
	}
	frames, pos, err := s.spool.read(s.cfg.Window)
	if err != nil {
		s.log.Error("read log spool", "err", err)
		return false
	}
	if len(frames) == 0 {
		s.mu.Lock()
		// Ship spills to the spool under s.mu: an empty spool stays empty here.
		if n, _ := s.spool.stats(); n == 0 {
			s.spooling = false
		}
		s.mu.Unlock()
		return true
	}
	if !s.reachable() {
		return false
	}
	recs := decodeFrames(frames)
	s.mu.Lock()
	s.resendFailed = false
	for _, r := range recs {
		s.inflight = append(s.inflight, inflight{rec: r, fromSpool: true})
	}
	s.mu.Unlock()
	if i := s.post(recs); i < len(recs) {
		s.mu.Lock()
		s.inflight = s.inflight[:len(s.inflight)-(len(recs)-i)]
		s.resendFailed, s.failed = true, true
		s.mu.Unlock()
	}
	if !s.awaitInflight() {
		s.resetClient()
	}
	s.mu.Lock()
	ok := !s.resendFailed
	s.mu.Unlock()
	if !ok {
		return false
	}
	if err := s.spool.commit(pos); err != nil {
		s.log.Error("commit log spool", "err", err)
		return false
	}
	s.updateGauges()
	return true
}

// awaitInflight waits until every record in flight is acknowledged. It
// returns false as soon as a send fails.
func (s *Shipper) awaitInflight() bool {
	for {
		s.mu.Lock()
		n, failed := len(s.inflight), s.failed
		s.mu.Unlock()
		switch {
		case failed:
			return false
		case n == 0:
			return true
		}
		s.wait(s.cfg.AckTimeout)
	}
}

// reachable dials the collector, so that an unreachable one costs one dial
// rather than a failed send per record.
func (s *Shipper) reachable() bool {
	conn, err := net.DialTimeout("tcp", s.cfg.Addr, s.cfg.AckTimeout)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// ensureClient returns the forward client, creating it if needed.
func (s *Shipper) ensureClient() *fluent.Fluent {
	if s.client != nil {
		return s.client
	}
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	c, err := fluent.New(fluent.Config{
		FluentHost:          s.host,
		FluentPort:          s.port,
		Async:               true,
		SubSecondPrecision:  true,
		RequestAck:          true,
		BufferLimit:         s.cfg.Window + 1,
		MaxRetry:            1,
		Timeout:             s.cfg.AckTimeout,
		WriteTimeout:        s.cfg.AckTimeout,
		ReadTimeout:         s.cfg.AckTimeout,
		AsyncResultCallback: func(_ []byte, err error) { s.acked(gen, err) },
	})
	if err != nil { // only for an unknown network; ours is always tcp
		s.log.Error("create forward client", "err", err)
		return nil
	}
	s.client = c
	return c
}

// acked is the client's result callback. The client sends one record at a
// time in order, so results arrive in the order of s.inflight.
func (s *Shipper) acked(gen uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	if gen != s.gen || len(s.inflight) == 0 {
		return
	}
	e := s.inflight[0]
	s.inflight = s.inflight[1:]
	if err == nil {
		s.m.shipped.Inc()
		return
	}
	s.failed = true
	if e.fromSpool {
		s.resendFailed = true
		return
	}
	s.spoolLocked(e.rec)
	s.spooling = true
}

// resetClient closes the client; records it still held go back to the spool
// (or, when they came from it, stay there).
func (s *Shipper) resetClient() {
	if s.client != nil {
		s.mu.Lock()
		pending := len(s.inflight) > 0
		s.mu.Unlock()
		// With records pending, discard them rather than wait for each one
		// to fail (AckTimeout apiece behind a stalled collector): Close then
		// takes at most one AckTimeout. Close is the only reader of this
		// field, and without pending records it would only print a warning.
		s.client.Config.ForceStopAsyncSend = pending
		_ = s.client.Close()
		s.client = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for _, e := range s.inflight {
		if e.fromSpool {
			s.resendFailed = true
			continue
		}
		s.spoolLocked(e.rec)
		s.spooling = true
	}
	s.inflight = nil
	s.failed = false
}

// decodeFrames decodes spool frames; a corrupt one is skipped.
func decodeFrames(frames [][]byte) []Record {
	recs := make([]Record, 0, len(frames))
	for _, f := range frames {
		r, err := readEntry(msgp.NewReader(bytes.NewReader(f)))
		if err == nil {
			recs = append(recs, r)
		}
	}
	return recs
}
