package logs

// dedupe remembers recent (instance, seq) pairs in two generations of at
// most window/2 entries each, so memory is bounded and at least the last
// window/2 pairs are always remembered.
type dedupe struct {
	half      int
	cur, prev map[dedupeKey]struct{}
}

type dedupeKey struct {
	instance string
	seq      uint64
	nanos    int64 // zero for the collector, which goes by (instance, seq)
}

func newDedupe(window int) *dedupe {
	half := max(window/2, 1)
	// The maps grow as lines come: sized up front, an idle collector held
	// 7 MB for a window it never filled.
	return &dedupe{half: half, cur: map[dedupeKey]struct{}{}}
}

// check reports whether r was seen, and remembers it. Records without an
// instance or seq (foreign senders) are never duplicates.
func (d *dedupe) check(r Record) bool {
	if r.Seq == 0 || r.Instance == "" {
		return false
	}
	return d.seen(dedupeKey{instance: r.Instance, seq: r.Seq})
}

// seen reports whether k was seen, and remembers it.
func (d *dedupe) seen(k dedupeKey) bool {
	if _, ok := d.cur[k]; ok {
		return true
	}
	if _, ok := d.prev[k]; ok {
		return true
	}
	if len(d.cur) >= d.half {
		d.prev, d.cur = d.cur, make(map[dedupeKey]struct{}, len(d.cur))
	}
	d.cur[k] = struct{}{}
	return false
}
