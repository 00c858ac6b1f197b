package observability_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// promtool returns the path of promtool, or fails the test.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/promtool"); err == nil {
		return "/usr/bin/promtool"
	}
	t.Fatalf("promtool not found in PATH or /usr/bin: %s", installHint)
	return ""
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = filepath.Join(repoRoot, "dashboards", "alerts")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s (%v):\n%s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", filepath.Base(rulesFile))
}

func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", filepath.Base(rulesTestFile))
}

// TestRulesConventions checks what promtool does not: every alert has a
// for, a severity, a summary and a description; and the unit tests show
// every alert both firing and staying quiet.
func TestRulesConventions(t *testing.T) {
	rules := loadRules(t)
	severities := map[string]bool{"critical": true, "warning": true, "info": true}
	names := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if names[r.Alert] {
			t.Errorf("alert %s is defined twice", r.Alert)
		}
		names[r.Alert] = true
		if r.For == "" {
			t.Errorf("alert %s has no for:", r.Alert)
		}
		if !severities[r.Labels["severity"]] {
			t.Errorf("alert %s: severity label %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s annotation", r.Alert, a)
			}
		}
		// Per-function alerts must say which function.
		if strings.Contains(r.Expr, "by (namespace, function") {
			for _, a := range []string{"summary", "description"} {
				if !strings.Contains(r.Annotations[a], "$labels.namespace") || !strings.Contains(r.Annotations[a], "$labels.function") {
					t.Errorf("alert %s: the %s annotation should name $labels.namespace and $labels.function", r.Alert, a)
				}
			}
		}
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range loadRuleTests(t).Tests {
		for _, at := range tc.AlertRuleTest {
			if !names[at.Alertname] {
				t.Errorf("%s: test %q checks alert %s, which %s does not define", rulesTestFile, tc.Name, at.Alertname, rulesFile)
			}
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for name := range names {
		if !fires[name] {
			t.Errorf("%s: no test shows %s firing (an alert_rule_test with exp_alerts)", rulesTestFile, name)
		}
		if !quiet[name] {
			t.Errorf("%s: no test shows %s not firing (an alert_rule_test with exp_alerts: [])", rulesTestFile, name)
		}
	}
}

// TestPromtoolCheckConfig checks the example Prometheus configurations
// (and, through their rule_files, the rules once more).
func TestPromtoolCheckConfig(t *testing.T) {
	for _, f := range []string{"lanternd-all.yml", "lanternd-roles.yml"} {
		cmd := exec.Command(promtool(t), "check", "config", f)
		cmd.Dir = filepath.Join(repoRoot, "dashboards", "prometheus")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check config %s: %v\n%s", f, err, out)
		}
	}
}
