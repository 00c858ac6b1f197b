// Package podlogs collects the output of pool pods on one node, as a node
// log agent does: it follows the runtime container's log files that the
// kubelet keeps (/var/log/pods/<namespace>_<pod>_<uid>/runtime/*.log, the
// CRI format, logs/cri) and turns each line into a logs.Record through a
// logs.Capture, the same records with the same labels as the poolmgr's
// capture of local processes, for the same collector and store.
//
// # Attribution
//
// A pool pod serves its environment until the poolmgr specializes it for a
// function, then that function until it is deleted; the poolmgr writes the
// function and the time its specialization began in the pod's annotations
// (kubepods.MarkSpecialized). A line is the function's when its CRI time
// is at or after that time, and the environment's (no function) before it,
// whenever the line is read: a pod that changes hands loses nothing and
// mixes nothing up. The mark is written once specialization succeeded, so
// a line of a pod not marked yet waits (in its file) for Config.Settle
// before it is taken as the environment's.
//
// # Delivery
//
// What has been read is kept per pod under Config.StateDir: the file and
// offset, a line begun and not ended, and the Capture's numbering and open
// requests at that point, written only once the store has the records read
// before it (Tailer.Written, from logs.Collector.SetWritten). A restarted
// Tailer reads on from there and numbers and times the lines as before, so
// what it reads again overwrites itself in the store: no line is lost or
// stored twice, whether the reader stopped or crashed. A deleted pod (or
// one deleted while nobody read) is read to its end before it is
// forgotten, while its files are there.
//
// Pods are watched with an informer on spec.nodeName; it imports kubepods
// for the labels and annotations of pool pods, and the logs package.
package podlogs
