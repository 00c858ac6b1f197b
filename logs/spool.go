package logs

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Spool file layout: segments named <id>.seg holding frames
// [uint32 length][uint32 CRC-32C of payload][payload], and a "cursor" file
// with the committed read position.
const (
	segSuffix     = ".seg"
	cursorFile    = "cursor"
	frameHeader   = 8
	maxFrameBytes = 64 << 20
	minSegBytes   = 4 << 10
	maxSegBytes   = 8 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// spool is an append-only FIFO of byte frames in segment files under a
// directory, bounded by maxBytes of unread data: when an append would exceed
// it, whole segments are dropped from the head. Reading does not consume:
// read returns frames and the position after them, and commit makes that
// position the new head. Writes are not fsynced; a process crash loses
// nothing that was appended, a machine crash may lose the tail.
type spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	onDrop   func(records int)

	mu     sync.Mutex
	segs   []*segment // oldest first; the last one is appended to
	w      *os.File
	cursor spoolPos
	closed bool
}

type segment struct {
	id      uint64
	size    int64
	records int
}

// spoolPos is a read position: a segment, a byte offset in it and the number
// of records before that offset.
type spoolPos struct {
	Seg     uint64 `json:"seg"`
	Offset  int64  `json:"offset"`
	Records int    `json:"records"`
}

// openSpool opens (creating if needed) the spool in dir. onDrop is called
// with the number of unread records dropped to stay under maxBytes.
func openSpool(dir string, maxBytes int64, onDrop func(int)) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, onDrop: onDrop,
		segBytes: min(max(maxBytes/8, minSegBytes), maxSegBytes)}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	return s, nil
}

// load scans the segments, repairs a torn tail and opens the last segment
// for appending.
func (s *spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range entries {
		if id, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), segSuffix), 10, 64); err == nil && strings.HasSuffix(e.Name(), segSuffix) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		seg, err := s.scan(id)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) == 0 {
		s.segs = []*segment{{id: 1}}
	}
	s.cursor = spoolPos{Seg: s.segs[0].id}
	if b, err := os.ReadFile(filepath.Join(s.dir, cursorFile)); err == nil {
		var c spoolPos
		if json.Unmarshal(b, &c) == nil && s.segment(c.Seg) != nil && c.Offset <= s.segment(c.Seg).size {
			s.cursor = c
		}
	}
	for len(s.segs) > 1 && s.segs[0].id < s.cursor.Seg {
		if err := os.Remove(s.path(s.segs[0].id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.segs = s.segs[1:]
	}
	return s.openTail()
}

// scan counts the frames of a segment and truncates it after the last
// complete, intact frame.
func (s *spool) scan(id uint64) (*segment, error) {
	f, err := os.OpenFile(s.path(id), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	seg := &segment{id: id}
	br := bufio.NewReader(f)
	for {
		payload, err := readFrame(br)
		if err != nil {
			break
		}
		seg.size += int64(frameHeader + len(payload))
		seg.records++
	}
	if err := f.Truncate(seg.size); err != nil {
		return nil, err
	}
	return seg, nil
}

func (s *spool) openTail() error {
	tail := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.path(tail.id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	s.w = f
	return nil
}

func (s *spool) path(id uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", id, segSuffix))
}

func (s *spool) segment(id uint64) *segment {
	for _, seg := range s.segs {
		if seg.id == id {
			return seg
		}
	}
	return nil
}

// append adds frames at the tail, then drops head segments while the unread
// data exceeds maxBytes.
func (s *spool) append(payloads ...[]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	tail := s.segs[len(s.segs)-1]
	if tail.size >= s.segBytes {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("spool append: %w", err)
		}
		tail = s.segs[len(s.segs)-1]
	}
	var buf []byte
	for _, p := range payloads {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, crcTable))
		buf = append(buf, p...)
	}
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("spool append: %w", err)
	}
	tail.size += int64(len(buf))
	tail.records += len(payloads)
	return s.enforceLimit()
}

func (s *spool) rotate() error {
	if err := s.w.Close(); err != nil {
		return err
	}
	s.segs = append(s.segs, &segment{id: s.segs[len(s.segs)-1].id + 1})
	return s.openTail()
}

// enforceLimit drops whole head segments while unread bytes exceed maxBytes.
func (s *spool) enforceLimit() error {
	for len(s.segs) > 1 && s.unreadBytes() > s.maxBytes {
		head := s.segs[0]
		dropped := head.records
		if s.cursor.Seg == head.id {
			dropped -= s.cursor.Records
		}
		if err := os.Remove(s.path(head.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool drop: %w", err)
		}
		s.segs = s.segs[1:]
		s.cursor = spoolPos{Seg: s.segs[0].id}
		if s.onDrop != nil && dropped > 0 {
			s.onDrop(dropped)
		}
	}
	return nil
}

func (s *spool) unreadBytes() int64 {
	var n int64
	for _, seg := range s.segs {
		n += seg.size
	}
	return n - s.cursor.Offset
}

func (s *spool) unreadRecords() int {
	n := -s.cursor.Records
	for _, seg := range s.segs {
		n += seg.records
	}
	return n
}

// stats returns the unread records and the fill ratio (unread bytes over
// maxBytes).
func (s *spool) stats() (records int, fill float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unreadRecords(), float64(s.unreadBytes()) / float64(s.maxBytes)
}

// read returns up to max frames from the head and the position after them.
func (s *spool) read(maxFrames int) ([][]byte, spoolPos, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pos := s.cursor
	var out [][]byte
	for _, seg := range s.segs {
		if seg.id < pos.Seg {
			continue
		}
		if seg.id > pos.Seg {
			pos = spoolPos{Seg: seg.id}
		}
		if pos.Offset >= seg.size {
			continue
		}
		frames, n, err := s.readSegment(seg, pos.Offset, maxFrames-len(out))
		if err != nil {
			return nil, s.cursor, fmt.Errorf("spool read: %w", err)
		}
		out = append(out, frames...)
		pos.Offset += n
		pos.Records += len(frames)
		if len(out) >= maxFrames {
			break
		}
	}
	return out, pos, nil
}

func (s *spool) readSegment(seg *segment, off int64, maxFrames int) ([][]byte, int64, error) {
	f, err := os.Open(s.path(seg.id))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	br := bufio.NewReader(io.NewSectionReader(f, off, seg.size-off))
	var frames [][]byte
	var n int64
	for len(frames) < maxFrames && off+n < seg.size {
		p, err := readFrame(br)
		if err != nil {
			return nil, 0, err
		}
		frames = append(frames, p)
		n += int64(frameHeader + len(p))
	}
	return frames, n, nil
}

// commit moves the head to pos, a position returned by read, and deletes the
// segments before it. A position in a segment dropped meanwhile is ignored.
func (s *spool) commit(pos spoolPos) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.segment(pos.Seg) == nil || pos.Seg < s.cursor.Seg || (pos.Seg == s.cursor.Seg && pos.Offset <= s.cursor.Offset) {
		return nil
	}
	s.cursor = pos
	for len(s.segs) > 1 && s.segs[0].id < pos.Seg {
		if err := os.Remove(s.path(s.segs[0].id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool commit: %w", err)
		}
		s.segs = s.segs[1:]
	}
	// Fully read: start over with an empty segment so the files don't grow.
	if tail := s.segs[len(s.segs)-1]; len(s.segs) == 1 && s.cursor.Offset == tail.size && tail.size > 0 {
		if err := s.rotate(); err != nil {
			return fmt.Errorf("spool commit: %w", err)
		}
		if err := os.Remove(s.path(tail.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool commit: %w", err)
		}
		s.segs = s.segs[1:]
		s.cursor = spoolPos{Seg: s.segs[0].id}
	}
	return s.saveCursor()
}

func (s *spool) saveCursor() error {
	b, _ := json.Marshal(s.cursor)
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("save spool cursor: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, cursorFile)); err != nil {
		return fmt.Errorf("save spool cursor: %w", err)
	}
	return nil
}

// close closes the tail segment; the spool is reopened by openSpool.
func (s *spool) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.w.Close()
}

// readFrame reads one frame and checks its CRC.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n > maxFrameBytes {
		return nil, fmt.Errorf("spool frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	if crc32.Checksum(p, crcTable) != binary.BigEndian.Uint32(hdr[4:8]) {
		return nil, errors.New("spool frame checksum mismatch")
	}
	return p, nil
}
