package observability_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The files under test, relative to the module root.
const (
	rulesFile     = "dashboards/alerts/lantern.rules.yml"
	rulesTestFile = "dashboards/alerts/lantern.rules.test.yml"
)

// dashboard is what the tests read of a Grafana dashboard.
type dashboard struct {
	File          string
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         *int           `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"` // of a row
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasourceRef  `json:"datasource"`
}

// query returns a query variable's query, whether Grafana stored it as a
// string or as {"query": "..."}.
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

// allPanels returns the panels with the ones inside rows, in order.
func (d *dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// query is one PromQL expression of a dashboard or a rule, with where it
// comes from for messages.
type query struct {
	Where string
	Expr  string
}

func (d *dashboard) queries() []query {
	var out []query
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			out = append(out, query{Where: fmt.Sprintf("%s panel %d %q target %s", d.File, deref(p.ID), p.Title, t.RefID), Expr: t.Expr})
		}
	}
	return out
}

func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// loadDashboards reads every dashboards/*.json.
func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 2 {
		t.Fatalf("want overview.json and function.json in dashboards/, found %v", paths)
	}
	sort.Strings(paths)
	var out []*dashboard
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{File: "dashboards/" + filepath.Base(path)}
		if err := json.Unmarshal(data, d); err != nil {
			t.Fatalf("%s: not valid dashboard JSON: %v", d.File, err)
		}
		out = append(out, d)
	}
	return out
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []rule `json:"rules"`
	} `json:"groups"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, rulesFile, &f)
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return out
}

// ruleTests is a promtool test file.
type ruleTests struct {
	Tests []struct {
		Name        string `json:"name"`
		InputSeries []struct {
			Series string `json:"series"`
		} `json:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string `json:"eval_time"`
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func loadRuleTests(t *testing.T) ruleTests {
	t.Helper()
	var f ruleTests
	readYAML(t, rulesTestFile, &f)
	return f
}

func readYAML(t *testing.T, rel string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// metricRe finds metric names in PromQL: Lantern's own, and the process
// and Go runtime collectors'.
var metricRe = regexp.MustCompile(`\b(?:lantern|process|go)_[a-z0-9_]*[a-z0-9]`)

// metricNames returns the metric names an expression uses, sorted.
func metricNames(expr string) []string {
	seen := map[string]bool{}
	for _, m := range metricRe.FindAllString(expr, -1) {
		seen[m] = true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// allReferences lists every place a metric name is used: dashboard
// queries and variables, alert expressions, and the rule tests' series.
func allReferences(t *testing.T) []query {
	t.Helper()
	var refs []query
	for _, d := range loadDashboards(t) {
		refs = append(refs, d.queries()...)
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				refs = append(refs, query{Where: fmt.Sprintf("%s variable %s", d.File, v.Name), Expr: v.query()})
			}
		}
	}
	for _, r := range loadRules(t) {
		refs = append(refs, query{Where: fmt.Sprintf("%s alert %s", rulesFile, r.Alert), Expr: r.Expr})
	}
	for _, tc := range loadRuleTests(t).Tests {
		for _, s := range tc.InputSeries {
			name, _, _ := strings.Cut(s.Series, "{")
			refs = append(refs, query{Where: fmt.Sprintf("%s test %q", rulesTestFile, tc.Name), Expr: name})
		}
	}
	return refs
}
