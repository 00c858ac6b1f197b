// Package influxdtest starts a real InfluxDB 1.8 (influxd) for tests: bound
// to 127.0.0.1 on ports the test picks, usage reporting off, data in a test
// temp dir, and restartable on the same data. The binary is built by
// test/tools/influxdb.sh; a missing binary fails the test (it never skips).
package influxdtest
