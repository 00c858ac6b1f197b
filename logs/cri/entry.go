package cri

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Streams of an entry.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags of an entry.
const (
	TagPartial = "P"
	TagFull    = "F"
)

// ErrMalformed is matched (errors.Is) by the error of a line that is not a
// CRI log entry.
var ErrMalformed = errors.New("malformed CRI log entry")

// Entry is one line of a container log file.
type Entry struct {
	// Time is when the runtime read the output.
	Time time.Time
	// Stream is Stdout or Stderr.
	Stream string
	// Partial marks a piece of a longer line that the next entries of the
	// same stream continue.
	Partial bool
	// Message is the output, without the newline; it aliases the parsed
	// line.
	Message []byte
}

// Parse parses one line of a log file, without its trailing newline. The
// tags field may hold several tags separated by ':' (the CRI format leaves
// room for more); only P means partial.
func Parse(line []byte) (Entry, error) {
	var e Entry
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return e, fmt.Errorf("%w: no stream after the time in %q", ErrMalformed, clip(line))
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return e, fmt.Errorf("%w: time %q: %v", ErrMalformed, clip(ts), err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	switch {
	case !ok:
		return e, fmt.Errorf("%w: no tags after the stream in %q", ErrMalformed, clip(line))
	case string(stream) == Stdout:
		e.Stream = Stdout
	case string(stream) == Stderr:
		e.Stream = Stderr
	default:
		return e, fmt.Errorf("%w: stream %q is neither stdout nor stderr", ErrMalformed, clip(stream))
	}
	// Tags, then one space and the message; a line ending right after
	// its tags is an empty message.
	tags, msg, _ := bytes.Cut(rest, []byte{' '})
	first, _, _ := bytes.Cut(tags, []byte{':'})
	switch string(first) {
	case TagPartial:
		e.Partial = true
	case TagFull:
	default:
		return e, fmt.Errorf("%w: tag %q is neither P nor F", ErrMalformed, clip(first))
	}
	e.Time, e.Message = t, msg
	return e, nil
}

// Append appends e to dst as one line of a log file, newline included, and
// returns the extended slice. The time is written with nine fractional
// digits, as CRI-O does, so that entries sort as text too.
func Append(dst []byte, e Entry) []byte {
	dst = e.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z07:00")
	dst = append(dst, ' ')
	dst = append(dst, e.Stream...)
	if e.Partial {
		dst = append(dst, " P "...)
	} else {
		dst = append(dst, " F "...)
	}
	dst = append(dst, e.Message...)
	return append(dst, '\n')
}

// clip shortens b for an error message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// Joiner puts partial entries back together, per stream: the output of a
// stream is one line from its first partial entry to the next full one.
// The zero value joins lines of any length; set Max to bound them.
type Joiner struct {
	// Max bounds a joined line in bytes; what a line holds beyond it is
	// dropped (Line.Truncated). 0: no bound.
	Max     int
	pending map[string]*Line
}

// Line is a line of output put back together.
type Line struct {
	// Time is the time of its first entry.
	Time   time.Time
	Stream string
	Text   []byte
	// Truncated says that Text is the first Joiner.Max bytes of a longer
	// line.
	Truncated bool
}

// Add adds an entry and returns the line it ends, if it ends one. The
// line's Text is the entry's Message when the entry is a whole line, and a
// copy otherwise.
func (j *Joiner) Add(e Entry) (Line, bool) {
	p := j.pending[e.Stream]
	if !e.Partial && p == nil {
		l := Line{Time: e.Time, Stream: e.Stream, Text: e.Message}
		if j.Max > 0 && len(l.Text) > j.Max {
			l.Text, l.Truncated = l.Text[:j.Max], true
		}
		return l, true
	}
	if p == nil {
		if j.pending == nil {
			j.pending = map[string]*Line{}
		}
		p = &Line{Time: e.Time, Stream: e.Stream}
		j.pending[e.Stream] = p
	}
	p.Text = append(p.Text, e.Message...)
	if j.Max > 0 && len(p.Text) > j.Max {
		p.Text, p.Truncated = p.Text[:j.Max], true
	}
	if e.Partial {
		return Line{}, false
	}
	delete(j.pending, e.Stream)
	return *p, true
}

// Pending returns the lines begun and not ended, oldest first, and forgets
// them: for when no entry will end them (the container is gone).
func (j *Joiner) Pending() []Line {
	var out []Line
	for _, s := range []string{Stdout, Stderr} {
		if p := j.pending[s]; p != nil {
			out = append(out, *p)
		}
	}
	if len(out) == 2 && out[1].Time.Before(out[0].Time) {
		out[0], out[1] = out[1], out[0]
	}
	clear(j.pending)
	return out
}

// Partial is a line begun and not yet ended, as kept in a checkpoint.
type Partial struct {
	Time      time.Time `json:"time"`
	Stream    string    `json:"stream"`
	Text      []byte    `json:"text"`
	Truncated bool      `json:"truncated,omitempty"`
}

// State returns the lines begun and not yet ended, to restore later with
// Restore; it does not forget them.
func (j *Joiner) State() []Partial {
	var out []Partial
	for _, s := range []string{Stdout, Stderr} {
		if p := j.pending[s]; p != nil {
			out = append(out, Partial{Time: p.Time, Stream: p.Stream, Text: bytes.Clone(p.Text), Truncated: p.Truncated})
		}
	}
	return out
}

// Restore replaces the lines begun with those of a State.
func (j *Joiner) Restore(ps []Partial) {
	clear(j.pending)
	for _, p := range ps {
		if j.pending == nil {
			j.pending = map[string]*Line{}
		}
		j.pending[p.Stream] = &Line{Time: p.Time, Stream: p.Stream, Text: bytes.Clone(p.Text), Truncated: p.Truncated}
	}
}
