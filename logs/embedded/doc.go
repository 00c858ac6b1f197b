// Package embedded is a logs.Sink and logs.Reader on a bbolt file, for
// single-node installations that run without InfluxDB.
//
// Records are keyed by namespace and function, then time, instance and seq,
// so a query for one function is a range scan over its time range, and a
// record written twice (a resend) overwrites itself. A second index by time
// lets retention drop the oldest records, across functions, when the stored
// data exceeds Config.MaxBytes.
//
// It imports only the logs package and bbolt; never anything under platform/.
package embedded
