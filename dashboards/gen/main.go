// Command gen writes the Lantern Grafana dashboards (dashboards/*.json)
// from the Go definitions in this folder. Run it from the module root
// after changing a dashboard:
//
//	go run ./dashboards/gen
//
// The test next to it fails when the committed JSON and the definitions
// differ, so edit the Go code, never the JSON by hand.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/lantern-faas/lantern/test/testenv"
)

// dashboards maps each output file name to its dashboard.
func dashboards() map[string]*Dashboard {
	return map[string]*Dashboard{
		"overview.json": overview(),
		"function.json": function(),
	}
}

// render returns the files' contents, indented like Grafana's exports.
func render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, d := range dashboards() {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

func main() {
	dir := flag.String("dir", "", "folder to write the dashboards to (default: dashboards/ of the module holding the working directory)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if dir == "" {
		root, err := testenv.RepoRoot()
		if errors.Is(err, testenv.ErrNoGoMod) {
			err = errors.New("no go.mod above the working directory; pass -dir")
		}
		if err != nil {
			return err
		}
		dir = filepath.Join(root, "dashboards")
	}
	files, err := render()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", path)
	}
	return nil
}
