package logs

import (
	"context"
	"fmt"
	"time"
)

// batchLoop turns decoded messages into batches, dropping duplicates. When
// the writer falls behind, sending a batch blocks and so does c.in.
func (c *Collector) batchLoop() {
	defer close(c.batches)
	seen := newDedupe(c.cfg.DedupeWindow)
	batch := make([]Record, 0, c.cfg.BatchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		timer.Stop()
		if len(batch) > 0 {
			c.batches <- batch
			batch = make([]Record, 0, c.cfg.BatchSize)
		}
	}
	for {
		select {
		case recs, ok := <-c.in:
			if !ok {
				flush()
				return
			}
			for _, r := range recs {
				if seen.check(r) {
					c.m.duplicates.Inc()
					continue
				}
				if len(batch) == 0 {
					timer.Reset(c.cfg.FlushInterval)
				}
				batch = append(batch, r)
				c.m.pending.Inc()
				if len(batch) >= c.cfg.BatchSize {
					flush()
				}
			}
		case <-timer.C:
			flush()
		}
	}
}

// writeLoop writes what a previous collector spooled, then every batch. When
// ctx ends (the drain timeout) what is left goes to the spool.
func (c *Collector) writeLoop(ctx context.Context) error {
	if err := c.replaySpool(ctx); err != nil {
		c.log.Error("collector spool replay", "err", err)
	}
	var left []Record
	for batch := range c.batches {
		if ctx.Err() == nil && c.write(ctx, batch) {
			continue
		}
		left = append(left, batch...)
	}
	if len(left) == 0 {
		return nil
	}
	c.m.pending.Sub(float64(len(left)))
	if c.spool != nil {
		payloads := make([][]byte, len(left))
		for i, r := range left {
			payloads[i] = appendEntry(nil, r)
		}
		if err := c.spool.append(payloads...); err == nil {
			c.log.Warn("sink unavailable at shutdown: records spooled", "records", len(left), "dir", c.cfg.SpoolDir)
			return nil
		}
	}
	c.m.lost.Add(float64(len(left)))
	return fmt.Errorf("collector stopped with %d records not written to the sink", len(left))
}

// replaySpool writes the spooled records, chunk by chunk.
func (c *Collector) replaySpool(ctx context.Context) error {
	if c.spool == nil {
		return nil
	}
	for {
		frames, pos, err := c.spool.read(c.cfg.BatchSize)
		if err != nil || len(frames) == 0 {
			return err
		}
		recs := decodeFrames(frames)
		c.m.pending.Add(float64(len(recs)))
		if !c.write(ctx, recs) {
			c.m.pending.Sub(float64(len(recs)))
			return ctx.Err()
		}
		if err := c.spool.commit(pos); err != nil {
			return err
		}
	}
}

func (c *Collector) notifyWritten(batch []Record) {
	if c.written != nil {
		c.written(batch)
	}
}

// write writes one batch, retrying with exponential backoff until it
// succeeds, the sink rejects it for good, or ctx ends (false).
func (c *Collector) write(ctx context.Context, batch []Record) bool {
	backoff := c.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := c.sink.Write(ctx, batch)
		switch {
		case err == nil:
			c.m.written.Add(float64(len(batch)))
			c.m.pending.Sub(float64(len(batch)))
			if attempt > 1 {
				c.log.Info("log sink writes recovered", "attempts", attempt)
			}
			c.notifyWritten(batch)
			return true
		case IsPermanent(err):
			c.m.rejected.Add(float64(len(batch)))
			c.m.pending.Sub(float64(len(batch)))
			c.log.Error("log sink rejected a batch", "records", len(batch), "err", err)
			c.notifyWritten(batch)
			return true
		}
		c.m.writeErrors.Inc()
		if attempt == 1 || attempt%10 == 0 {
			c.log.Warn("log sink write failed, retrying", "attempt", attempt, "backoff", backoff, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		backoff = min(2*backoff, c.cfg.RetryMax)
	}
}
