package main

// The subset of the Grafana dashboard JSON model (schemaVersion 38, which
// Grafana 10.0 writes and every later version imports and migrates) that
// the Lantern dashboards use. Field order follows Grafana's own exports so
// that a round trip through the Grafana UI gives a small diff.

// schemaVersion is what Grafana 10.0 exports; 10.x and 11.x import it.
const schemaVersion = 38

// dsVar is the dashboard variable every panel and target queries through,
// so the dashboards work with any Prometheus data source.
const dsVar = "${datasource}"

// Dashboard is a whole dashboard.
type Dashboard struct {
	Annotations          Annotations `json:"annotations"`
	Description          string      `json:"description,omitempty"`
	Editable             bool        `json:"editable"`
	FiscalYearStartMonth int         `json:"fiscalYearStartMonth"`
	GraphTooltip         int         `json:"graphTooltip"`
	ID                   *int        `json:"id"`
	Links                []Link      `json:"links"`
	LiveNow              bool        `json:"liveNow"`
	Panels               []Panel     `json:"panels"`
	Refresh              string      `json:"refresh"`
	SchemaVersion        int         `json:"schemaVersion"`
	Tags                 []string    `json:"tags"`
	Templating           Templating  `json:"templating"`
	Time                 TimeRange   `json:"time"`
	Timepicker           Timepicker  `json:"timepicker"`
	Timezone             string      `json:"timezone"`
	Title                string      `json:"title"`
	UID                  string      `json:"uid"`
	Version              int         `json:"version"`
	WeekStart            string      `json:"weekStart"`
}

// Annotations holds the built-in "Annotations & Alerts" entry.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is one annotation query.
type Annotation struct {
	BuiltIn    int           `json:"builtIn"`
	Datasource DatasourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	Hide       bool          `json:"hide"`
	IconColor  string        `json:"iconColor"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
}

// Link is a dashboard link (top right of the dashboard).
type Link struct {
	AsDropdown  bool     `json:"asDropdown"`
	Icon        string   `json:"icon"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	Tags        []string `json:"tags"`
	TargetBlank bool     `json:"targetBlank"`
	Title       string   `json:"title"`
	Tooltip     string   `json:"tooltip"`
	Type        string   `json:"type"`
	URL         string   `json:"url"`
}

// DatasourceRef points at a data source, here always through ${datasource}.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is a row, a stat or a time series panel.
type Panel struct {
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	Description string         `json:"description,omitempty"`
	FieldConfig *FieldConfig   `json:"fieldConfig,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	ID          int            `json:"id"`
	Options     any            `json:"options,omitempty"`
	Panels      *[]Panel       `json:"panels,omitempty"`
	Targets     []Target       `json:"targets,omitempty"`
	Title       string         `json:"title"`
	Type        string         `json:"type"`
}

// Target is one Prometheus query of a panel.
type Target struct {
	Datasource   DatasourceRef `json:"datasource"`
	EditorMode   string        `json:"editorMode"`
	Expr         string        `json:"expr"`
	Instant      bool          `json:"instant"`
	LegendFormat string        `json:"legendFormat"`
	Range        bool          `json:"range"`
	RefID        string        `json:"refId"`
}

// FieldConfig sets units, thresholds, mappings and links.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []any         `json:"overrides"`
}

// FieldDefaults are the field options every series of a panel gets.
type FieldDefaults struct {
	Color      map[string]string `json:"color"`
	Custom     map[string]any    `json:"custom,omitempty"`
	Decimals   *int              `json:"decimals,omitempty"`
	Links      []DataLink        `json:"links,omitempty"`
	Mappings   []any             `json:"mappings"`
	Min        *float64          `json:"min,omitempty"`
	Thresholds Thresholds        `json:"thresholds"`
	Unit       string            `json:"unit"`
}

// DataLink opens a URL from a data point.
type DataLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Thresholds colour values.
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold; the first has a null value (the base).
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a datasource or a query variable.
type Variable struct {
	Current     map[string]any `json:"current"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	Definition  string         `json:"definition,omitempty"`
	Hide        int            `json:"hide"`
	IncludeAll  bool           `json:"includeAll"`
	Label       string         `json:"label"`
	Multi       bool           `json:"multi"`
	Name        string         `json:"name"`
	Options     []any          `json:"options"`
	Query       any            `json:"query"`
	Refresh     int            `json:"refresh"`
	Regex       string         `json:"regex"`
	SkipURLSync bool           `json:"skipUrlSync"`
	Sort        int            `json:"sort"`
	Type        string         `json:"type"`
}

// TimeRange is the default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Timepicker lists the refresh choices.
type Timepicker struct {
	RefreshIntervals []string `json:"refresh_intervals"`
}
