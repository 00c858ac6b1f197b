package observability_test

import (
	"testing"
)

// TestProvisioning checks the Grafana provisioning files: a Prometheus
// data source, and a file provider for the dashboards.
func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name     string         `json:"name"`
			Type     string         `json:"type"`
			Access   string         `json:"access"`
			URL      string         `json:"url"`
			JSONData map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	readYAML(t, "dashboards/provisioning/datasources/lantern.yaml", &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("datasources/lantern.yaml: want apiVersion 1 and one data source, got %+v", ds)
	}
	d := ds.Datasources[0]
	if d.Type != "prometheus" || d.Access != "proxy" || d.URL != "http://127.0.0.1:9090" || d.Name == "" {
		t.Errorf("datasources/lantern.yaml: want a proxied prometheus at http://127.0.0.1:9090, got %+v", d)
	}
	if d.JSONData["timeInterval"] != "15s" {
		t.Errorf("datasources/lantern.yaml: jsonData.timeInterval %v, want 15s (the example scrape interval)", d.JSONData["timeInterval"])
	}

	var dp struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name    string         `json:"name"`
			Type    string         `json:"type"`
			Folder  string         `json:"folder"`
			Options map[string]any `json:"options"`
		} `json:"providers"`
	}
	readYAML(t, "dashboards/provisioning/dashboards/lantern.yaml", &dp)
	if dp.APIVersion != 1 || len(dp.Providers) != 1 {
		t.Fatalf("dashboards/lantern.yaml: want apiVersion 1 and one provider, got %+v", dp)
	}
	p := dp.Providers[0]
	if p.Type != "file" || p.Options["path"] == nil || p.Options["path"] == "" {
		t.Errorf("dashboards/lantern.yaml: want a file provider with options.path, got %+v", p)
	}
}
