package deploy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Grafana's provisioning directories in its image.
const (
	datasourcesDir = "/etc/grafana/provisioning/datasources"
	providersDir   = "/etc/grafana/provisioning/dashboards"
)

type datasourceFile struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string `yaml:"name"`
		UID       string `yaml:"uid"`
		Type      string `yaml:"type"`
		URL       string `yaml:"url"`
		IsDefault bool   `yaml:"isDefault"`
		JSONData  struct {
			TimeInterval string `yaml:"timeInterval"`
		} `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type providerFile struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

// yamlFiles returns the YAML files of a provisioning directory.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no provisioning files", dir)
	}
	return out
}

func decodeYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// grafanaSetup reads Grafana's provisioning as the compose stack mounts it
// and returns the uid of the Prometheus datasource and the repository
// directories the dashboards are provisioned from.
func grafanaSetup(t *testing.T, c *composeFile, p prometheusSetup) (dsUID string, dashboardDirs []string) {
	t.Helper()
	g := serviceByImage(t, c, "grafana/grafana")

	for _, file := range yamlFiles(t, mountedFile(t, g, datasourcesDir)) {
		var f datasourceFile
		decodeYAML(t, file, &f)
		if f.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", file, f.APIVersion)
		}
		for _, ds := range f.Datasources {
			if ds.Type != "prometheus" {
				continue
			}
			if ds.UID == "" {
				t.Errorf("%s: datasource %s has no uid: the dashboards refer to it by uid", file, ds.Name)
			}
			dsUID = ds.UID
			u, err := url.Parse(ds.URL)
			if err != nil {
				t.Errorf("%s: url %q: %v", file, ds.URL, err)
				continue
			}
			if s := c.byHost(u.Hostname()); s != p.service || u.Port() != p.port {
				t.Errorf("%s: url %s, want the Prometheus service, http://%s:%s", file, ds.URL, p.service.name, p.port)
			}
			want := p.config.Global.ScrapeInterval
			if ds.JSONData.TimeInterval != want {
				t.Errorf("%s: jsonData.timeInterval %q, want Prometheus's scrape_interval %q: $__rate_interval is computed from it", file, ds.JSONData.TimeInterval, want)
			}
		}
	}
	if dsUID == "" {
		t.Fatal("Grafana has no Prometheus datasource")
	}

	targets := map[string]string{} // container dir -> repository dir
	for _, m := range g.mounts {
		if !m.named {
			targets[path.Clean(m.target)] = filepath.Join(repoRoot(t), filepath.FromSlash(m.source))
		}
	}
	for _, file := range yamlFiles(t, mountedFile(t, g, providersDir)) {
		var f providerFile
		decodeYAML(t, file, &f)
		if f.APIVersion != 1 {
			t.Errorf("%s: apiVersion %d, want 1", file, f.APIVersion)
		}
		for _, pr := range f.Providers {
			dir, ok := targets[path.Clean(pr.Options.Path)]
			if pr.Type != "file" || !ok {
				t.Errorf("%s: provider %s reads %s, where service %s mounts no directory of the repository", file, pr.Name, pr.Options.Path, g.name)
				continue
			}
			dashboardDirs = append(dashboardDirs, dir)
		}
	}
	if len(dashboardDirs) == 0 {
		t.Fatal("Grafana provisions no dashboards")
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		dir, ok := targets[path.Dir(home)]
		if !ok {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=%s: nothing is mounted at %s", home, path.Dir(home))
		} else if _, err := os.Stat(filepath.Join(dir, path.Base(home))); err != nil {
			t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=%s: %v", home, err)
		}
	}
	return dsUID, dashboardDirs
}

// dashboard is the part of a dashboard's JSON the tests read.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    *struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Datasource   json.RawMessage `json:"datasource"`
		RefID        string          `json:"refId"`
		Expr         string          `json:"expr"`
		LegendFormat string          `json:"legendFormat"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

// dsUIDOf returns the uid of a datasource reference, {"type","uid"}.
func dsUIDOf(raw json.RawMessage) string {
	var ref struct {
		UID string `json:"uid"`
	}
	if json.Unmarshal(raw, &ref) != nil {
		return ""
	}
	return ref.UID
}

// TestDashboards checks the Grafana provisioning of the compose stack and
// every dashboard it provisions: valid JSON with a uid and a title, panels
// with unique ids laid out on the 24-column grid without overlap, every
// query on the provisioned Prometheus datasource and true to the metrics
// processor.NewMetrics registers (checkQuery), and every such metric on a
// dashboard.
func TestDashboards(t *testing.T) {
	c := loadCompose(t)
	p := loadPrometheus(t, c)
	dsUID, dirs := grafanaSetup(t, c, p)
	known, registered := registeredMetrics(t)
	used := map[string]bool{}
	uids := map[string]string{}
	unreadable := false // a dashboard that does not parse shows nothing
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Errorf("%s: no dashboards", dir)
		}
		for _, file := range files {
			name := filepath.Base(file)
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard
			if err := json.Unmarshal(b, &d); err != nil {
				t.Errorf("%s: %v", file, err)
				unreadable = true
				continue
			}
			if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
				t.Errorf("%s: uid %q, title %q, schemaVersion %d: want all three", name, d.UID, d.Title, d.SchemaVersion)
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("%s and %s have the same uid %q", other, name, d.UID)
			}
			uids[d.UID] = name
			checkLayout(t, name, d.Panels)
			ids := map[int]bool{}
			var walk func(ps []panel)
			walk = func(ps []panel) {
				for _, pn := range ps {
					where := fmt.Sprintf("%s: panel %d %q", name, pn.ID, pn.Title)
					if ids[pn.ID] || pn.ID == 0 {
						t.Errorf("%s: id missing or not unique", where)
					}
					ids[pn.ID] = true
					if pn.Type == "row" {
						walk(pn.Panels)
						continue
					}
					if pn.Title == "" || pn.Type == "" {
						t.Errorf("%s: want a title and a type", where)
					}
					if got := dsUIDOf(pn.Datasource); got != dsUID {
						t.Errorf("%s: datasource uid %q, want the provisioned Prometheus, %q", where, got, dsUID)
					}
					if len(pn.Targets) == 0 {
						t.Errorf("%s: no queries", where)
					}
					refs := map[string]bool{}
					for _, q := range pn.Targets {
						if refs[q.RefID] || q.RefID == "" {
							t.Errorf("%s: refId %q missing or not unique", where, q.RefID)
						}
						refs[q.RefID] = true
						if got := dsUIDOf(q.Datasource); q.Datasource != nil && got != dsUID {
							t.Errorf("%s: query %s: datasource uid %q, want %q", where, q.RefID, got, dsUID)
						}
						if strings.TrimSpace(q.Expr) == "" {
							t.Errorf("%s: query %s has no expr", where, q.RefID)
							continue
						}
						metrics, errs := checkQuery(q.Expr, q.LegendFormat, known, p.jobs)
						for _, err := range errs {
							t.Errorf("%s: query %s %q: %v", where, q.RefID, q.Expr, err)
						}
						for _, m := range metrics {
							used[m] = true
						}
					}
				}
			}
			walk(d.Panels)
		}
	}
	for _, m := range registered {
		if !used[m] && !unreadable {
			t.Errorf("processor.NewMetrics registers %s, but no dashboard query shows it: add it to a panel of deploy/grafana/dashboards", m)
		}
	}
}

// checkLayout checks that the top-level panels fit the 24-column grid and
// do not overlap (Grafana would push overlapping panels down, silently).
func checkLayout(t *testing.T, name string, ps []panel) {
	t.Helper()
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, pn := range ps {
		g := pn.GridPos
		if g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: panel %q: gridPos %+v: want w, h > 0 within 24 columns", name, pn.Title, g)
			continue
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("%s: panels %q and %q overlap at (%d, %d)", name, other, pn.Title, x, y)
					return
				}
				taken[cell{x, y}] = pn.Title
			}
		}
	}
}

// TestGrafanaService checks the Grafana service itself: a port published,
// and the dashboards' Prometheus reachable (it starts after Prometheus).
func TestGrafanaService(t *testing.T) {
	c := loadCompose(t)
	g := serviceByImage(t, c, "grafana/grafana")
	p := loadPrometheus(t, c)
	if _, ok := g.DependsOn[p.service.name]; !ok {
		t.Errorf("service %s does not depend on %s", g.name, p.service.name)
	}
	ports, err := g.containerPorts()
	if err != nil {
		t.Fatal(err)
	}
	port := g.Environment["GF_SERVER_HTTP_PORT"]
	if port == "" {
		port = "3000"
	}
	if !slices.Contains(ports, port) {
		t.Errorf("service %s: port %s is not published (ports %q)", g.name, port, g.Ports)
	}
}
