// Package logstest helps test code that uses the logs package: Run is the
// contract every logs.Sink + logs.Reader implementation passes, Memory is an
// in-memory implementation, and Sink is a function-field fake.
package logstest
