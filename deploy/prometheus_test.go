package deploy

import (
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promConfig is the part of prometheus.yml the tests read.
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName        string `yaml:"job_name"`
		MetricsPath    string `yaml:"metrics_path"`
		ScrapeInterval string `yaml:"scrape_interval"`
		StaticConfigs  []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// prometheusSetup is the Prometheus of the compose stack: its service, the
// port it listens on and the configuration file the service mounts.
type prometheusSetup struct {
	service *composeService
	port    string
	config  promConfig
	jobs    []string
}

// serviceByImage returns the service whose image is repo:tag.
func serviceByImage(t *testing.T, c *composeFile, repo string) *composeService {
	t.Helper()
	for _, n := range c.sortedNames() {
		if s := c.Services[n]; strings.HasPrefix(s.Image, repo+":") {
			return s
		}
	}
	t.Fatalf("docker-compose.yml: no service runs %s", repo)
	return nil
}

// flagValue returns the value of -name or --name in args ("-name=value"
// form only: Prometheus's flags), or def.
func flagValue(args []string, name, def string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), name+"="); ok {
			return v
		}
	}
	return def
}

// mountedFile returns the repository path of the bind mount that puts a
// file or directory at target in service s.
func mountedFile(t *testing.T, s *composeService, target string) string {
	t.Helper()
	for _, m := range s.mounts {
		if path.Clean(m.target) == path.Clean(target) {
			if m.named {
				t.Fatalf("service %s: %s is the volume %s, not a file of the repository", s.name, target, m.source)
			}
			return filepath.Join(repoRoot(t), filepath.FromSlash(m.source))
		}
	}
	t.Fatalf("service %s mounts nothing at %s", s.name, target)
	return ""
}

func loadPrometheus(t *testing.T, c *composeFile) prometheusSetup {
	t.Helper()
	p := prometheusSetup{service: serviceByImage(t, c, "prom/prometheus")}
	cfgPath := flagValue(p.service.command, "config.file", "/etc/prometheus/prometheus.yml")
	_, p.port, _ = net.SplitHostPort(flagValue(p.service.command, "web.listen-address", ":9090"))
	file := mountedFile(t, p.service, cfgPath)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &p.config); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, j := range p.config.ScrapeConfigs {
		if slices.Contains(p.jobs, j.JobName) {
			t.Errorf("%s: job %q twice", file, j.JobName)
		}
		p.jobs = append(p.jobs, j.JobName)
	}
	return p
}

// TestPrometheusScrapesSessionrec checks that the Prometheus of the compose
// stack reads deploy/prometheus/prometheus.yml, that a job scrapes the
// service running `sessionrec run` at the port of its -http address on
// /metrics, and that every target is a host of the compose network.
func TestPrometheusScrapesSessionrec(t *testing.T) {
	c := loadCompose(t)
	p := loadPrometheus(t, c)
	run, port := runHTTPPort(t, c)
	scraped := false
	for _, j := range p.config.ScrapeConfigs {
		for _, sc := range j.StaticConfigs {
			for _, target := range sc.Targets {
				host, tport, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", j.JobName, target, err)
					continue
				}
				s := c.byHost(host)
				if s == nil && host != "localhost" {
					t.Errorf("job %s: target %s: no compose service %s", j.JobName, target, host)
				}
				if s != run {
					continue
				}
				scraped = true
				if tport != port {
					t.Errorf("job %s: target %s, but service %s serves -http on port %s", j.JobName, target, run.name, port)
				}
				if j.MetricsPath != "" && j.MetricsPath != "/metrics" {
					t.Errorf("job %s: metrics_path %s; sessionrec serves /metrics", j.JobName, j.MetricsPath)
				}
			}
		}
	}
	if !scraped {
		t.Errorf("no Prometheus job scrapes service %s (`sessionrec run`)", run.name)
	}
}
