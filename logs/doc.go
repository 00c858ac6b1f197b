// Package logs is Lantern's function-log pipeline: it captures what function
// instances print, ships it with the Fluentd forward protocol, collects it
// and stores it, and reads it back with filters and follow.
//
// # Pipeline
//
//		instance output ─▶ Capture ─▶ Shipper ══forward protocol══▶ Collector ─▶ Sink
//		                                 │ spool (disk)                         │ (influx, embedded)
//		                                 ▼                                      ▼
//		                              resend                        Hub ─▶ Follow / Query
//
//	  - [Capture] (in the pool manager) turns raw output lines into [Record]s:
//	    splits over-long lines, repairs UTF-8, escapes control characters,
//	    rate-limits per function and attributes lines to requests through the
//	    marker lines the runtimes print.
//	  - [Shipper] sends records to a collector with fluent-logger-golang. It
//	    never blocks its caller; while the collector is unreachable records
//	    spill to an append-only spool on disk and are resent afterwards.
//	  - [Collector] (the "lanternd logger" role) accepts the forward protocol
//	    (Message, Forward, PackedForward and CompressedPackedForward modes),
//	    acknowledges chunks, batches records and writes them to a [Sink],
//	    retrying with backoff while the sink is down.
//	  - Sinks and readers live in subpackages named after what they wrap:
//	    logs/influx (InfluxDB 1.8+ and 2.x) and logs/embedded (bbolt). Both
//	    notify a [Hub] on write so that [Follow] pushes new lines to readers.
//	  - logs/cri reads the container log files kubelets keep (the CRI
//	    format), for output read after the fact: [Capture.LineAt] times such
//	    lines by when they were printed, and [Capture.State] and
//	    [Capture.Restore] let a reader that restarts number them as before.
//
// # Delivery
//
// Delivery is at least once end to end (the shipper requests an ack for every
// message and resends what was not acknowledged) and effectively exactly once
// in storage: the collector drops resends of an (instance, seq) pair it has
// seen recently, and both stores key a line by its instance, time and seq so
// that a late resend overwrites itself instead of adding a second copy.
//
// # Imports
//
// This package and its subpackages must not import anything under platform/.
// The platform wires them in from its composition roots.
package logs
