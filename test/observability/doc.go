// Package observability tests Lantern's Grafana dashboards and Prometheus
// alert rules (the files under dashboards/) against the real thing:
//
//   - promtool checks the rules and runs their unit tests
//     (dashboards/alerts/lantern.rules.test.yml);
//   - a lint checks the dashboards' structure, and that every metric name
//     a dashboard, a rule or a rule test uses is exported by a live
//     lanternd, started by the test and scraped after some load;
//   - Debian's Prometheus scrapes that lanternd every second while the
//     test calls functions (some failing, some cold-starting, some idle
//     long enough to be reaped), then every dashboard query must return
//     data and every alert expression must evaluate.
//
// Needs /usr/bin/prometheus and promtool (apt-get install prometheus) and
// the python runtime's packages (bash platform/environments/setup.sh).
// Run with plain go test:
//
//	go test -count=1 ./test/observability/
package observability
