// Package influx is a logs.Sink and logs.Reader on InfluxDB 1.8+ and 2.x,
// through influxdb-client-go/v2.
//
// # Schema
//
// One point per line in measurement "function_log": tags namespace,
// function, environment, instance and stream; fields message, request_id,
// trace_id (both omitted when empty) and seq (integer); the capture time in
// nanoseconds as the timestamp. Capture keeps times strictly increasing per
// instance, so two lines of an instance never share a point key, and a
// resent line lands on its own point key and overwrites itself instead of
// being stored twice.
//
// # Versions
//
// Writes use the v2 write API (/api/v2/write), which InfluxDB 1.8 also
// serves: there Bucket is "database/retention-policy" (or just "database"),
// Org is empty and Token is "" or "user:password". Queries use InfluxQL over
// /query with bound parameters when Config.Database is set (1.8; several
// times faster than Flux there), and Flux otherwise (2.x).
//
// It imports only the logs package and the InfluxDB client; never anything
// under platform/.
package influx
