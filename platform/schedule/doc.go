// Package schedule parses the cron expressions of timers. The controller
// validates with it, the timer fires with it and the CLI previews with it,
// so that what is accepted is exactly what runs.
//
// It imports only robfig/cron and the standard library.
package schedule
