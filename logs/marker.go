package logs

import "bytes"

// MarkerPrefix starts the marker lines a runtime prints on stderr around each
// invocation:
//
//	\x1elantern:req-start <requestID> <traceID>
//	\x1elantern:req-end <requestID>
//
// Capture consumes these lines (they are never stored) and uses them to
// attribute the lines in between to the request.
const MarkerPrefix = "\x1elantern:"

// Marker commands.
const (
	markerReqStart = "req-start"
	markerReqEnd   = "req-end"
)

// marker is a parsed marker line.
type marker struct {
	command   string
	requestID string
	traceID   string
}

// parseMarker parses line if it is a marker line. Lines that start with
// MarkerPrefix but are malformed or carry an unknown command are still
// reported as markers (ok is true) with an empty command, so that they are
// swallowed rather than stored.
func parseMarker(line []byte) (m marker, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte(MarkerPrefix))
	if !found {
		return marker{}, false
	}
	fields := bytes.Fields(rest)
	if len(fields) < 2 {
		return marker{}, true
	}
	switch cmd := string(fields[0]); cmd {
	case markerReqStart:
		m = marker{command: cmd, requestID: string(fields[1])}
		if len(fields) > 2 {
			m.traceID = string(fields[2])
		}
	case markerReqEnd:
		m = marker{command: cmd, requestID: string(fields[1])}
	}
	return m, true
}

// ReqStartMarker returns the marker line (without newline) a runtime prints
// before invoking the function for a request.
func ReqStartMarker(requestID, traceID string) string {
	return MarkerPrefix + markerReqStart + " " + requestID + " " + traceID
}

// ReqEndMarker returns the marker line (without newline) a runtime prints
// after the function returned.
func ReqEndMarker(requestID string) string {
	return MarkerPrefix + markerReqEnd + " " + requestID
}
