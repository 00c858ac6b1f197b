package cri

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxRawLine bounds one line of a file; the runtimes cut output into
// entries of 16 KiB, so a longer line is not an entry.
const maxRawLine = 1 << 20

// Position is where a Follower is in a container's logs: the file it reads
// (by inode, which survives a rotation's rename) and the offset of the
// first byte it has not returned.
type Position struct {
	// File is the file's name when it was last read, for messages and to
	// place a file that has gone.
	File string `json:"file,omitempty"`
	// Inode identifies the file; 0 before the first file is opened.
	Inode uint64 `json:"inode,omitempty"`
	// Offset is the offset of the next entry in the file.
	Offset int64 `json:"offset,omitempty"`
	// Time is the time of the last entry returned.
	Time time.Time `json:"time,omitzero"`
}

// Follower reads the entries of one container's log folder in order: its
// rotated files, then the one being written, then those of the container's
// restarts. It follows the file it reads by inode, so a rotation (a rename
// and a new file) loses nothing: a file is left only once a newer one
// exists and it had nothing more to read at two looks in a row. Not safe
// for concurrent use.
type Follower struct {
	dir  string
	pos  Position
	f    *os.File
	buf  []byte // read from f, not yet returned
	last bool   // the previous look found the end of f and a newer file
	// skipUntil drops the entries up to this time when resuming in a file
	// other than the one the position named (that one is gone).
	skipUntil time.Time
	done      bool // nothing more will be written: no waiting at a file's end
	closed    bool
	// The entry Peek returned, at the start of buf, and its length there.
	peek    Entry
	peekLen int
}

// NewFollower returns a Follower of the container folder dir (holding
// <restarts>.log files) that starts at pos; the zero Position starts at the
// oldest file. A position whose file is gone resumes at the first file that
// may hold newer entries, skipping the entries up to pos.Time.
func NewFollower(dir string, pos Position) *Follower {
	return &Follower{dir: dir, pos: pos}
}

// Position returns the position after the last entry Next returned.
func (fl *Follower) Position() Position { return fl.pos }

// Next returns the next entry. It returns io.EOF when there is none yet
// (the caller looks again later), and an error matching ErrMalformed for a
// line that is not an entry (skipped: the next call goes on after it).
// Entry.Message aliases the Follower's buffer until the next call.
func (fl *Follower) Next() (Entry, error) {
	e, err := fl.Peek()
	if err != nil {
		return e, err
	}
	fl.buf = fl.buf[fl.peekLen:]
	fl.pos.Offset += int64(fl.peekLen)
	fl.pos.Time = e.Time
	fl.peekLen = 0
	return e, nil
}

// Peek returns the entry Next would return, and leaves it to Next: a
// caller that is not ready for an entry stops before it, and its
// Position stays before it.
func (fl *Follower) Peek() (Entry, error) {
	if fl.closed {
		return Entry{}, os.ErrClosed
	}
	if fl.peekLen > 0 {
		return fl.peek, nil
	}
	for {
		if fl.f == nil {
			ok, err := fl.open()
			if err != nil || !ok {
				return Entry{}, orEOF(err)
			}
		}
		if i := bytes.IndexByte(fl.buf, '\n'); i >= 0 {
			e, err := Parse(fl.buf[:i])
			skip := err == nil && !fl.skipUntil.IsZero() && !e.Time.After(fl.skipUntil)
			if err != nil || skip {
				fl.buf = fl.buf[i+1:]
				fl.pos.Offset += int64(i + 1)
				if err != nil {
					return Entry{}, err
				}
				continue
			}
			fl.skipUntil = time.Time{}
			fl.peek, fl.peekLen = e, i+1
			return e, nil
		}
		n, err := fl.fill()
		if n > 0 {
			fl.last = false
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Entry{}, err
		}
		// The end of the file: go on to a newer one once this one has
		// had nothing more twice in a row.
		next, err := fl.successor()
		if err != nil || next == "" {
			fl.last = false
			return Entry{}, orEOF(err)
		}
		if !fl.last && !fl.done {
			fl.last = true
			return Entry{}, io.EOF
		}
		if len(fl.buf) > 0 { // an unfinished last line: it will not be finished
			fl.pos.Offset += int64(len(fl.buf))
			fl.buf = fl.buf[:0]
		}
		fl.f.Close()
		fl.f, fl.last = nil, false
		fl.pos = Position{File: next, Time: fl.pos.Time}
	}
}

// Done tells the Follower that the container writes no more (it has
// exited): Next then goes from a file's end to the next file at once, and
// its io.EOF means the whole log has been read.
func (fl *Follower) Done() { fl.done = true }

// Close closes the file being read.
func (fl *Follower) Close() error {
	fl.closed = true
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f = nil
	return err
}

func orEOF(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// fill reads more of the file into the buffer.
func (fl *Follower) fill() (int, error) {
	if len(fl.buf) >= maxRawLine {
		// No newline in a whole buffer: not an entry. Drop it and
		// resynchronize at the next newline.
		fl.pos.Offset += int64(len(fl.buf))
		fl.buf = fl.buf[:0]
		return 0, fmt.Errorf("%w: a line longer than %d bytes", ErrMalformed, maxRawLine)
	}
	if cap(fl.buf)-len(fl.buf) < 32<<10 {
		nb := make([]byte, len(fl.buf), max(2*cap(fl.buf), len(fl.buf)+64<<10))
		copy(nb, fl.buf)
		fl.buf = nb
	}
	n, err := fl.f.Read(fl.buf[len(fl.buf):cap(fl.buf)])
	fl.buf = fl.buf[:len(fl.buf)+n]
	return n, err
}

// open opens the file the position names, or the one to start with; false
// when the folder has no file yet.
func (fl *Follower) open() (bool, error) {
	files, err := fl.list()
	if err != nil || len(files) == 0 {
		return false, err
	}
	i := -1
	if fl.pos.Inode != 0 {
		i = slices.IndexFunc(files, func(f logFile) bool { return f.inode == fl.pos.Inode })
		if i < 0 {
			// Gone (compressed or deleted while nobody read it): resume
			// at the first file that may hold newer entries.
			fl.skipUntil = fl.pos.Time
			i = slices.IndexFunc(files, func(f logFile) bool { return !f.mtime.Before(fl.pos.Time) })
			if i < 0 {
				return false, nil
			}
			fl.pos = Position{Time: fl.pos.Time}
		}
	} else if fl.pos.File != "" {
		i = slices.IndexFunc(files, func(f logFile) bool { return f.name == fl.pos.File })
	}
	if i < 0 {
		i = 0
		fl.pos.Offset = 0
	}
	f, err := os.Open(filepath.Join(fl.dir, files[i].name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // rotated in between: the next look finds it
		}
		return false, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return false, err
	}
	ino := inode(st)
	if ino != fl.pos.Inode || st.Size() < fl.pos.Offset {
		if fl.pos.Inode != 0 && ino == fl.pos.Inode {
			fl.skipUntil = fl.pos.Time // shorter than our offset: not the file we read
		}
		fl.pos.Offset = 0
	}
	if _, err := f.Seek(fl.pos.Offset, io.SeekStart); err != nil {
		f.Close()
		return false, err
	}
	fl.f, fl.buf = f, fl.buf[:0]
	fl.pos.File, fl.pos.Inode = files[i].name, ino
	return true, nil
}

// successor returns the name of the file after the one being read, or "".
func (fl *Follower) successor() (string, error) {
	files, err := fl.list()
	if err != nil {
		return "", err
	}
	if i := slices.IndexFunc(files, func(f logFile) bool { return f.inode == fl.pos.Inode }); i >= 0 {
		if i+1 < len(files) {
			return files[i+1].name, nil
		}
		return "", nil
	}
	// Ours is gone from the folder (rotated and then compressed or
	// deleted): the next is the first file placed after its last name,
	// or one that took that name.
	cur, ok := parseName(fl.pos.File)
	if !ok {
		return "", nil
	}
	for _, f := range files {
		if !f.before(cur) {
			return f.name, nil
		}
	}
	return "", nil
}

// logFile is one log file of a container folder.
type logFile struct {
	name     string
	restarts int
	rotated  string // the rotation's time stamp; "" for the file being written
	inode    uint64
	mtime    time.Time
}

// before orders files: by restarts, then rotated ones (oldest first)
// before the one being written.
func (f logFile) before(o logFile) bool {
	if f.restarts != o.restarts {
		return f.restarts < o.restarts
	}
	if (f.rotated == "") != (o.rotated == "") {
		return f.rotated != ""
	}
	return f.rotated < o.rotated
}

// parseName parses <restarts>.log and <restarts>.log.<YYYYMMDD-hhmmss>.
func parseName(name string) (logFile, bool) {
	base, stamp, _ := strings.Cut(name, ".log")
	n, err := strconv.Atoi(base)
	if err != nil || n < 0 {
		return logFile{}, false
	}
	switch {
	case stamp == "":
	case len(stamp) == len(".20060102-150405") && stamp[0] == '.':
		if _, err := time.Parse("20060102-150405", stamp[1:]); err != nil {
			return logFile{}, false
		}
		stamp = stamp[1:]
	default: // .gz, .tmp and the like
		return logFile{}, false
	}
	return logFile{name: name, restarts: n, rotated: stamp}, true
}

// list returns the folder's log files in reading order.
func (fl *Follower) list() ([]logFile, error) {
	des, err := os.ReadDir(fl.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var files []logFile
	for _, de := range des {
		f, ok := parseName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // gone in between
		}
		f.inode, f.mtime = inode(info), info.ModTime()
		files = append(files, f)
	}
	slices.SortFunc(files, func(a, b logFile) int {
		switch {
		case a.before(b):
			return -1
		case b.before(a):
			return 1
		}
		return 0
	})
	return files, nil
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
