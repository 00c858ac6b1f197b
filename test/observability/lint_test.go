package observability_test

import (
	"bufio"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// builtinVars are Grafana's own variables a query may use.
var builtinVars = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true, "__interval_ms": true, "__range_s": true}

var varRe = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// TestDashboardsLint checks the dashboards' structure: what Grafana needs
// to import them and what makes them work with any Prometheus.
func TestDashboardsLint(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q and title %q must be set", d.File, d.UID, d.Title)
		}
		if other, ok := uids[d.UID]; ok {
			t.Errorf("%s: uid %q is also the uid of %s", d.File, d.UID, other)
		}
		uids[d.UID] = d.File
		if d.SchemaVersion < 36 {
			t.Errorf("%s: schemaVersion %d; Grafana 10/11 dashboards are 36 or later", d.File, d.SchemaVersion)
		}

		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
			if v.Type == "query" {
				if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
					t.Errorf("%s: variable %s must query ${datasource}, has %+v", d.File, v.Name, v.Datasource)
				}
				if !strings.HasPrefix(v.query(), "label_values(") {
					t.Errorf("%s: variable %s: query %q, want label_values(...)", d.File, v.Name, v.query())
				}
			}
		}
		if ds := findVar(d, "datasource"); ds == nil || ds.Type != "datasource" || strings.Trim(string(ds.Query), `"`) != "prometheus" {
			t.Errorf("%s: want a variable named datasource of type datasource querying prometheus", d.File)
		}

		ids := map[int]string{}
		nQueries := 0
		for _, p := range d.allPanels() {
			where := fmt.Sprintf("%s panel %d %q", d.File, deref(p.ID), p.Title)
			if p.ID == nil || *p.ID <= 0 {
				t.Errorf("%s: missing or zero id", where)
			} else if other, ok := ids[*p.ID]; ok {
				t.Errorf("%s: id %d is also the id of %s", where, *p.ID, other)
			} else {
				ids[*p.ID] = p.Title
			}
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: gridPos %+v is not on the 24-column grid", where, p.GridPos)
			}
			if p.Title == "" {
				t.Errorf("%s: no title", where)
			}
			if p.Type == "row" {
				if len(p.Targets) > 0 {
					t.Errorf("%s: a row has no queries", where)
				}
				continue
			}
			if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				nQueries++
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s target %s: empty expr", where, tg.RefID)
				}
				if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s target %s: datasource %+v, want ${datasource}", where, tg.RefID, tg.Datasource)
				}
				for _, m := range varRe.FindAllStringSubmatch(tg.Expr, -1) {
					if !vars[m[1]] && !builtinVars[m[1]] {
						t.Errorf("%s target %s: uses $%s, which the dashboard does not define", where, tg.RefID, m[1])
					}
				}
			}
		}
		t.Logf("%s: %d panels, %d queries", d.File, len(ids), nQueries)
	}
	for _, want := range []string{"lantern-overview", "lantern-function"} {
		if _, ok := uids[want]; !ok {
			t.Errorf("no dashboard with uid %s", want)
		}
	}
	for _, d := range loadDashboards(t) {
		if d.UID == "lantern-function" {
			for _, name := range []string{"namespace", "function"} {
				if v := findVar(d, name); v == nil || v.Type != "query" {
					t.Errorf("%s: want a query variable %s", d.File, name)
				}
			}
		}
	}
}

func findVar(d *dashboard, name string) *variable {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	return nil
}

// TestMetricNamesExist checks every metric name used by the dashboards,
// the alert rules and the rule tests against what a live lanternd
// exports after some load. A histogram is used through _bucket, _sum and
// _count; its bare name matches nothing in PromQL and fails.
func TestMetricNamesExist(t *testing.T) {
	p := requireLive(t)
	refs := allReferences(t)

	// Series appear as the load makes them happen (instances reaped after
	// a few seconds, for one): scrape until every name is there, or fail
	// on the ones still missing at the deadline.
	var exported map[string]string
	var missing []string
	deadline := p.started.Add(warmupTimeout)
	for {
		var err error
		exported, err = scrapeTypes(p.apiURL + "/metrics")
		if err != nil {
			t.Fatalf("scrape lanternd: %v\n%s", err, p.logs())
		}
		missing = missing[:0]
		for _, r := range refs {
			for _, name := range metricNames(r.Expr) {
				if problem := checkName(name, exported); problem != "" {
					missing = append(missing, fmt.Sprintf("%s: %s", r.Where, problem))
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, m := range missing {
		t.Error(m)
	}
	if len(missing) > 0 {
		t.Logf("lanternd exports: %s\n%s", strings.Join(sortedKeys(exported), " "), p.logs())
	}

	// Which Lantern metrics no dashboard shows (a hint, not a failure).
	used := map[string]bool{}
	for _, r := range refs {
		if strings.HasPrefix(r.Where, "dashboards/") && strings.HasSuffix(strings.SplitN(r.Where, " ", 2)[0], ".json") {
			for _, name := range metricNames(r.Expr) {
				used[baseName(name, exported)] = true
			}
		}
	}
	var unused []string
	for _, name := range sortedKeys(exported) {
		if strings.HasPrefix(name, "lantern_") && !used[name] {
			unused = append(unused, name)
		}
	}
	if len(unused) > 0 {
		t.Logf("Lantern metrics on no dashboard: %s", strings.Join(unused, ", "))
	} else {
		t.Logf("all %d lantern_* metric families are on a dashboard", countPrefix(exported, "lantern_"))
	}
}

// checkName says what is wrong with a metric name, or "" when lanternd
// exports it.
func checkName(name string, exported map[string]string) string {
	if typ, ok := exported[name]; ok {
		if typ == "histogram" || typ == "summary" {
			return fmt.Sprintf("%s is a %s: use %s_bucket, _sum or _count", name, typ, name)
		}
		return ""
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			switch exported[base] {
			case "histogram":
				return ""
			case "summary":
				if suffix != "_bucket" {
					return ""
				}
			}
		}
	}
	return fmt.Sprintf("metric %s is not exported by lanternd", name)
}

// baseName strips a histogram suffix.
func baseName(name string, exported map[string]string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] != "" {
			return base
		}
	}
	return name
}

// scrapeTypes reads the # TYPE lines of a text-format exposition.
func scrapeTypes(url string) (map[string]string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return types, sc.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func countPrefix(m map[string]string, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}
