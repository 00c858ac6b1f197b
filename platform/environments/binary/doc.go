// Package binary is the runtime for functions that are executables: a
// compiled program or a script with a #! line. It speaks the same contract
// as the Python and Node.js runtimes (package api/runtime), so the pool
// manager treats it like any other environment.
//
// # Specialization
//
// POST /v2/specialize names the code with filepath; POST /specialize loads
// <userfunc>/user. When filepath is a file, that file is the function and
// functionName is ignored. When it is a folder (an extracted zip):
//
//   - functionName "name" (a path inside the folder, "bin/app" works too)
//     picks that file; if no such file exists and the name has a dot,
//     the part before the last dot is tried, so Fission-style "app.Handler"
//     finds "app";
//   - an empty functionName picks the first of main, handler and bootstrap
//     that exists, else the only regular file at the folder's top level.
//
// The file is made executable (chmod +x) and must start with #! or be an
// ELF binary, so that a wrong upload fails at specialization with a clear
// message instead of at every request. A second specialization answers
// 400 "Not a generic container"; a failed one leaves the instance generic.
//
// # Requests
//
// After specialization every method and path except GET /healthz runs the
// executable once, CGI style, in the executable's folder:
//
//   - the request body is its stdin;
//   - its stdout is streamed back as the body of a 200 response, flushed
//     chunk by chunk; Content-Type is sniffed from the first bytes;
//   - the request is described by REQUEST_METHOD, REQUEST_URI, PATH_INFO,
//     QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH, SERVER_PROTOCOL,
//     REMOTE_ADDR and one HTTP_<NAME> variable per header (HTTP_HOST
//     included; the Proxy header is dropped, see httpoxy), added to the
//     instance's own environment;
//   - its stderr goes to the instance's stderr, the function's log;
//   - with an X-Lantern-Request-Id header, the run is framed on that
//     stderr by the marker lines of logs.ReqStartMarker (written before
//     the program starts, with the trace ID of a valid traceparent header)
//     and logs.ReqEndMarker (once it has exited, its output is copied and
//     the response is written), each a whole line in one write: a line
//     the program left unterminated is ended first;
//   - a non-zero exit before any output answers 500 with the exit status
//     and the last 4 KiB of stderr; after output has started the status
//     can no longer change and the body just ends;
//   - when the request's context ends (client gone, router timeout) the
//     whole process group is killed. Processes the executable leaves
//     behind may write for one more second, then they are killed too.
//
// Before specialization calls get 500 "generic container: no function
// loaded".
//
// It imports only api/runtime, logs (for the marker lines) and the standard
// library.
package binary
