package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
}

// row writes one row; cells must not contain tabs or newlines.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// print writes v as JSON or YAML per -o, or calls tableFn to write the table
// view.
func (a *app) print(v any, tableFn func(t *table)) error {
	switch a.output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = a.stdout.Write(append(b, '\n'))
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = a.stdout.Write(b)
		return err
	}
	t := newTable(a.stdout)
	tableFn(t)
	return t.flush()
}

// field is one line of a detail view.
type field struct{ name, value string }

// details writes the "Name: value" view of one object.
func (t *table) details(fields []field) {
	for _, f := range fields {
		v := f.value
		if v == "" {
			v = "-"
		}
		t.row(f.name+":", v)
	}
}

// age formats the time since t as kubectl does: 5s, 3m, 2h, 4d.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// timestamp formats a creation or update time with its age.
func (a *app) timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf("%s (%s ago)", t.Local().Format(time.RFC3339), age(a.now(), t))
}

// seconds formats a number of seconds as a duration ("120s"); 0 is shown as
// "-" since the server applies its default.
func seconds(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%ds", n)
}

// number formats n, or "-" when it is 0.
func number(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// orDash returns s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withNamespace prefixes a NAMESPACE cell when all namespaces are listed.
func withNamespace(all bool, ns string, cells ...string) []string {
	if !all {
		return cells
	}
	return append([]string{ns}, cells...)
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
