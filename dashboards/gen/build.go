package main

import (
	"fmt"
	"strings"
)

// rateInterval is Grafana's window for rate(): at least four scrape
// intervals, so a single missed scrape never empties a panel.
const rateInterval = "$__rate_interval"

// componentJobs matches the Prometheus jobs of Lantern: "lantern" scrapes
// "lanternd all"; the separate roles are scraped as lantern-controller,
// lantern-poolmgr, lantern-router, lantern-logger, lantern-timer,
// lantern-mqtrigger and lantern-async (see README.md).
const componentJobs = `job=~"lantern|lantern-controller|lantern-poolmgr|lantern-router|lantern-logger|lantern-timer|lantern-mqtrigger|lantern-async"`

var ds = DatasourceRef{Type: "prometheus", UID: dsVar}

// board lays panels out left to right on Grafana's 24-column grid,
// starting a new line when a panel does not fit, and numbers them.
type board struct {
	d      *Dashboard
	x, y   int
	lineH  int // height of the tallest panel on the current line
	nextID int
}

func newBoard(d *Dashboard) *board { return &board{d: d, nextID: 1} }

// row starts a new line with a row header.
func (b *board) row(title string) {
	b.newline()
	collapsed := false
	b.d.Panels = append(b.d.Panels, Panel{
		Collapsed: &collapsed, GridPos: GridPos{H: 1, W: 24, X: 0, Y: b.y},
		ID: b.id(), Panels: &[]Panel{}, Title: title, Type: "row",
	})
	b.y++
}

// add places p with width w and height h.
func (b *board) add(w, h int, p Panel) {
	if b.x+w > 24 {
		b.newline()
	}
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	p.ID = b.id()
	b.d.Panels = append(b.d.Panels, p)
	b.x += w
	if h > b.lineH {
		b.lineH = h
	}
}

func (b *board) newline() {
	if b.x > 0 {
		b.y += b.lineH
	}
	b.x, b.lineH = 0, 0
}

func (b *board) id() int {
	id := b.nextID
	b.nextID++
	return id
}

// q is one query with its legend.
func q(expr, legend string) Target {
	return Target{Datasource: ds, EditorMode: "code", Expr: expr, LegendFormat: legend, Range: true}
}

// withRefIDs names the targets A, B, C...
func withRefIDs(ts []Target) []Target {
	out := make([]Target, len(ts))
	for i, t := range ts {
		t.RefID = string(rune('A' + i))
		out[i] = t
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func baseThresholds() Thresholds {
	return Thresholds{Mode: "absolute", Steps: []Step{{Color: "green"}}}
}

// timeseries is a line chart.
func timeseries(title, desc, unit string, targets ...Target) Panel {
	return Panel{
		Datasource:  ptr(ds),
		Description: desc,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Color: map[string]string{"mode": "palette-classic"},
			Custom: map[string]any{
				"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
				"spanNulls": false, "axisSoftMin": 0,
			},
			Mappings:   []any{},
			Thresholds: baseThresholds(),
			Unit:       unit,
		}, Overrides: []any{}},
		Options: map[string]any{
			"legend":  map[string]any{"calcs": []string{}, "displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
		Targets: withRefIDs(targets),
		Title:   title,
		Type:    "timeseries",
	}
}

// stat is a single big number (the last value) with a sparkline.
func stat(title, desc, unit string, targets ...Target) Panel {
	return Panel{
		Datasource:  ptr(ds),
		Description: desc,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Color:      map[string]string{"mode": "thresholds"},
			Mappings:   []any{},
			Thresholds: baseThresholds(),
			Unit:       unit,
		}, Overrides: []any{}},
		Options: map[string]any{
			"colorMode": "value", "graphMode": "area", "justifyMode": "auto", "orientation": "auto",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"textMode":      "auto",
			// Grafana 10.4+ options, ignored by older versions.
			"showPercentChange": false, "percentChangeColorMode": "standard", "wideLayout": true,
		},
		Targets: withRefIDs(targets),
		Title:   title,
		Type:    "stat",
	}
}

// thresholds sets colour steps: green below the first value, then each
// color from its value on.
func (p Panel) thresholds(steps ...any) Panel {
	t := baseThresholds()
	for i := 0; i+1 < len(steps); i += 2 {
		t.Steps = append(t.Steps, Step{Color: steps[i+1].(string), Value: ptr(steps[i].(float64))})
	}
	p.FieldConfig.Defaults.Thresholds = t
	return p
}

// upDown maps 1 and 0 to UP and DOWN, coloured.
func (p Panel) upDown() Panel {
	p.FieldConfig.Defaults.Mappings = []any{map[string]any{
		"type": "value",
		"options": map[string]any{
			"0": map[string]any{"color": "red", "index": 1, "text": "DOWN"},
			"1": map[string]any{"color": "green", "index": 0, "text": "UP"},
		},
	}}
	p.FieldConfig.Defaults.Thresholds = Thresholds{Mode: "absolute", Steps: []Step{{Color: "red"}, {Color: "green", Value: ptr(1.0)}}}
	p.Options.(map[string]any)["colorMode"] = "background"
	p.Options.(map[string]any)["graphMode"] = "none"
	return p
}

// linkToFunction adds a data link from a series with namespace and
// function labels to the function dashboard.
func (p Panel) linkToFunction() Panel {
	p.FieldConfig.Defaults.Links = []DataLink{{
		Title: "Function ${__field.labels.namespace}/${__field.labels.function}",
		URL:   "/d/" + functionUID + "/lantern-function?${datasource:queryparam}&var-namespace=${__field.labels.namespace}&var-function=${__field.labels.function}&${__url_time_range}",
	}}
	return p
}

// stacked draws the series stacked (parts of a whole).
func (p Panel) stacked() Panel {
	p.FieldConfig.Defaults.Custom["stacking"] = map[string]any{"group": "A", "mode": "normal"}
	return p
}

// quantiles returns p50, p90 and p99 (or the given quantiles) of a
// classic histogram, summed over everything but the by labels.
func quantiles(metric, selector, by string, qs ...float64) []Target {
	if len(qs) == 0 {
		qs = []float64{0.5, 0.9, 0.99}
	}
	var out []Target
	for _, v := range qs {
		legend := fmt.Sprintf("p%g", v*100)
		if by != "" {
			for _, l := range strings.Split(by, ", ") {
				legend += " {{" + l + "}}"
			}
		}
		out = append(out, q(histogramQuantile(v, metric, selector, by), legend))
	}
	return out
}

// histogramQuantile is the quantile v of metric's classic buckets.
func histogramQuantile(v float64, metric, selector, by string) string {
	group := "le"
	if by != "" {
		group = by + ", le"
	}
	return fmt.Sprintf("histogram_quantile(%g, sum by (%s) (rate(%s_bucket%s[%s])))", v, group, metric, braces(selector), rateInterval)
}

// rate is the per-second rate of a counter, summed by the given labels
// (or over everything when by is empty).
func rate(metric, selector, by string) string {
	return sumBy(by, fmt.Sprintf("rate(%s%s[%s])", metric, braces(selector), rateInterval))
}

// gauge sums a gauge by the given labels.
func gauge(metric, selector, by string) string {
	return sumBy(by, metric+braces(selector))
}

func sumBy(by, expr string) string {
	if by == "" {
		return "sum(" + expr + ")"
	}
	return "sum by (" + by + ") (" + expr + ")"
}

func braces(selector string) string {
	if selector == "" {
		return ""
	}
	return "{" + selector + "}"
}

// and joins label matchers.
func and(matchers ...string) string {
	var out []string
	for _, m := range matchers {
		if m != "" {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// base returns the parts every Lantern dashboard shares.
func base(uid, title, desc string) *Dashboard {
	return &Dashboard{
		Annotations: Annotations{List: []Annotation{{
			BuiltIn: 1, Datasource: DatasourceRef{Type: "grafana", UID: "-- Grafana --"}, Enable: true, Hide: true,
			IconColor: "rgba(0, 211, 255, 1)", Name: "Annotations & Alerts", Type: "dashboard",
		}}},
		Description:  desc,
		Editable:     true,
		GraphTooltip: 1, // shared crosshair
		Links: []Link{{
			AsDropdown: true, Icon: "external link", IncludeVars: false, KeepTime: true, Tags: []string{"lantern"},
			Title: "Lantern", Type: "dashboards",
		}},
		Panels:        []Panel{},
		Refresh:       "30s",
		SchemaVersion: schemaVersion,
		Tags:          []string{"lantern"},
		Templating:    Templating{List: []Variable{datasourceVariable()}},
		Time:          TimeRange{From: "now-1h", To: "now"},
		Timepicker:    Timepicker{RefreshIntervals: []string{"10s", "30s", "1m", "5m", "15m", "30m", "1h"}},
		Title:         title,
		UID:           uid,
		Version:       1,
	}
}

func datasourceVariable() Variable {
	return Variable{
		Current: map[string]any{}, Label: "Data source", Name: "datasource", Options: []any{},
		Query: "prometheus", Refresh: 1, Type: "datasource",
	}
}

// labelValues is a query variable listing the values of label in metric.
func labelValues(name, title, label, metric, selector string) Variable {
	query := fmt.Sprintf("label_values(%s%s, %s)", metric, braces(selector), label)
	return Variable{
		Current: map[string]any{}, Datasource: ptr(ds), Definition: query, Label: title, Name: name,
		Options: []any{}, Query: map[string]any{"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
		Refresh: 2, // on time range change
		Sort:    1, // alphabetical
		Type:    "query",
	}
}
