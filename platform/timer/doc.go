// Package timer runs TimeTriggers: it learns timers from the controller's
// informer, computes their ticks with the schedule package and calls each
// timer's function through the router's internal route, so that timer
// calls get the cold starts, metrics, logs and traces of HTTP calls (with
// the trigger label "timer").
//
// # Policy
//
//   - A tick whose previous run of the same timer is still going is
//     skipped, not queued: runs never pile up. Skipped ticks are counted
//     in lantern_timer_skipped_ticks_total.
//   - A tick is fired at most once, across restarts: the last fired tick of
//     every timer is kept in a small file under the data folder, and a
//     timer only fires ticks after it. Ticks that fell while the timer was
//     not running are not caught up (they count as missed).
//   - A call is not retried: the next tick is the next attempt. The outcome
//     (a status below 400, or not) is counted per timer.
//   - One timer runs per installation: two timer processes would both
//     fire every tick (there is no leader election yet).
//
// It imports api, client and schedule, never another component.
package timer
