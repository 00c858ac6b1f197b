// Package cri reads and writes container log files in the format kubelets
// keep them in (the CRI logging format), one entry a line:
//
//	2026-11-27T07:56:04.123456789Z stdout F hello, world
//
// the time the runtime read the output (RFC 3339, nanoseconds), the stream,
// tags (P: a partial entry, the runtime cut a line longer than its buffer
// and the next entries of the same stream continue it; F: the end of a
// line), a space and the output itself. A kubelet keeps a container's files
// in /var/log/pods/<namespace>_<pod>_<uid>/<container>/: <restarts>.log, the
// one being written, and <restarts>.log.<YYYYMMDD-hhmmss> once rotated
// (rotated files may later be compressed, .gz, which are not read).
//
// [Parse] and [Append] read and write one entry, [Joiner] puts partial
// entries back together, and [Follower] reads a container's folder entry by
// entry across rotations and restarts from a saved [Position].
//
// It imports only the standard library; never anything under platform/.
package cri
