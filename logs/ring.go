package logs

// ring is a bounded FIFO of records.
type ring struct {
	buf  []Record
	head int
	n    int
}

func newRing(size int) ring { return ring{buf: make([]Record, size)} }

func (r *ring) len() int { return r.n }

// push appends rec and reports whether there was room.
func (r *ring) push(rec Record) bool {
	if r.n == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.n)%len(r.buf)] = rec
	r.n++
	return true
}

// pop removes up to max records from the front.
func (r *ring) pop(maxRecs int) []Record {
	n := min(maxRecs, r.n)
	out := make([]Record, n)
	for i := range out {
		out[i] = r.buf[r.head]
		r.buf[r.head] = Record{}
		r.head = (r.head + 1) % len(r.buf)
	}
	r.n -= n
	return out
}

// drain removes every record.
func (r *ring) drain() []Record { return r.pop(r.n) }
