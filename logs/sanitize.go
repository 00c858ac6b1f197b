package logs

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Markers appended to the chunks of a line that was split.
const (
	// ContinuedMarker ends every chunk of a split line except the last.
	ContinuedMarker = "…[continued]"
	// TruncatedMarker ends the last chunk kept of a line longer than
	// MaxLineBytes*MaxLineChunks; the rest of that line is dropped.
	TruncatedMarker = "…[truncated]"
)

// trimNewline removes one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// isPlain reports whether b is printable ASCII (or tab) only.
func isPlain(b []byte) bool {
	for _, c := range b {
		if c >= 0x7f || (c < 0x20 && c != '\t') {
			return false
		}
	}
	return true
}

// splitLine makes line safe to store and cuts it into messages of at most
// maxBytes bytes each, markers included: invalid UTF-8 becomes U+FFFD, control
// characters other than tab become \xNN (C0, DEL) or \uNNNN (C1) escapes, and
// a rune or escape is never cut in two. At most maxChunks messages are
// returned; truncated reports that the rest of the line was dropped.
func splitLine(line []byte, maxBytes, maxChunks int) (chunks []string, truncated bool) {
	if len(line) <= maxBytes && isPlain(line) {
		return []string{string(line)}, false
	}
	limit := maxBytes - len(ContinuedMarker)
	cur := make([]byte, 0, min(len(line)+16, maxBytes))
	var esc [8]byte
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRune(line[i:])
		tok := line[i : i+size]
		switch {
		case r == utf8.RuneError && size <= 1:
			tok = []byte(string(utf8.RuneError))
		case r != '\t' && unicode.IsControl(r):
			if r < 0x80 {
				tok = fmt.Appendf(esc[:0], `\x%02x`, r)
			} else {
				tok = fmt.Appendf(esc[:0], `\u%04x`, r)
			}
		}
		i += size
		// The last token of the line may use the room of the marker.
		room := limit
		if i == len(line) {
			room = maxBytes
		}
		if len(cur)+len(tok) > room && len(cur) > 0 {
			if len(chunks) == maxChunks-1 {
				return append(chunks, string(cur)+TruncatedMarker), true
			}
			chunks = append(chunks, string(cur)+ContinuedMarker)
			cur = cur[:0]
		}
		cur = append(cur, tok...)
	}
	return append(chunks, string(cur)), false
}
