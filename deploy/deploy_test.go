package deploy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The compose file as far as the tests read it. Keys the tests do not model
// land in Other and are checked against the Compose specification's list,
// so that a misspelt key fails here rather than at `docker compose up`.

type composeFile struct {
	Name     string                     `yaml:"name"`
	Services map[string]*composeService `yaml:"services"`
	Volumes  map[string]any             `yaml:"volumes"`
	Other    map[string]any             `yaml:",inline"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       *composeBuild  `yaml:"build"`
	Hostname    string         `yaml:"hostname"`
	Command     stringList     `yaml:"command"`
	Environment envMap         `yaml:"environment"`
	Ports       stringList     `yaml:"ports"`
	Volumes     stringList     `yaml:"volumes"`
	DependsOn   dependsOn      `yaml:"depends_on"`
	Healthcheck *composeHealth `yaml:"healthcheck"`
	Profiles    stringList     `yaml:"profiles"`
	Other       map[string]any `yaml:",inline"`

	name    string   // the key under services
	mounts  []mount  // Volumes, interpolated and parsed
	command []string // Command, interpolated
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type composeHealth struct {
	Test stringList `yaml:"test"`
}

// serviceKeys are the service keys of the Compose specification
// (compose-spec/compose-spec, schema/compose-spec.json), besides
// extensions (x-...).
var serviceKeys = []string{
	"annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent",
	"command", "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota",
	"cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on",
	"deploy", "develop", "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname",
	"entrypoint", "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus",
	"group_add", "healthcheck", "hostname", "image", "init", "ipc", "isolation", "label_file", "labels",
	"links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
	"models", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
	"platform", "ports", "post_start", "pre_stop", "privileged", "profiles", "provider", "pull_policy",
	"pull_refresh_after", "read_only", "restart", "runtime", "scale", "secrets", "security_opt",
	"shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty",
	"ulimits", "use_api_socket", "user", "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}

// topKeys are the top-level keys of the Compose specification besides
// extensions (x-...).
var topKeys = []string{"version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models"}

// stringList is a YAML sequence of scalars. A command written as one string
// is refused: Compose splits it with shell rules the tests would have to
// copy, and a list says exactly what the binary receives.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: want a list, got %q", n.Line, n.Value)
	}
	for _, c := range n.Content {
		c = deref(c)
		if c.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: want a string in the list", c.Line)
		}
		*l = append(*l, c.Value)
	}
	return nil
}

// envMap is a service's environment, as a mapping or a list of NAME=value.
// Compose refuses YAML booleans as values (they must be quoted), so this
// does too.
type envMap map[string]string

func (m *envMap) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	*m = envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], deref(n.Content[i+1])
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: environment %s: want a scalar", v.Line, k.Value)
			}
			if v.ShortTag() == "!!bool" {
				return fmt.Errorf("line %d: environment %s: %s is a YAML boolean, which Compose refuses: quote it", v.Line, k.Value, v.Value)
			}
			(*m)[k.Value] = v.Value
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			k, v, _ := strings.Cut(deref(c).Value, "=")
			(*m)[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment: want a mapping or a list", n.Line)
	}
	return nil
}

// dependsOn maps a dependency to its condition; the list form means
// service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	n = deref(n)
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			(*d)[deref(c).Value] = "service_started"
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var v struct {
				Condition string `yaml:"condition"`
			}
			if err := n.Content[i+1].Decode(&v); err != nil {
				return err
			}
			if v.Condition == "" {
				v.Condition = "service_started"
			}
			(*d)[n.Content[i].Value] = v.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on: want a mapping or a list", n.Line)
	}
	return nil
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mount is one entry of a service's volumes (short syntax).
type mount struct {
	source, target string
	readOnly       bool
	// named is set for a named volume, unset for a bind mount of a host
	// path.
	named bool
	// variable is set when the source came from a ${...} substitution:
	// the operator chooses it, so it need not exist here.
	variable bool
}

// parseMount parses "SOURCE:TARGET[:MODE]", after interpolation.
func parseMount(raw string) (mount, error) {
	s, err := interpolate(raw)
	if err != nil {
		return mount{}, err
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return mount{}, fmt.Errorf("volume %q: want SOURCE:/TARGET[:MODE]", raw)
	}
	m := mount{source: parts[0], target: parts[1], variable: strings.Contains(raw, "${")}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				m.readOnly = true
			case "rw", "z", "Z", "nocopy":
			default:
				return mount{}, fmt.Errorf("volume %q: unknown mode %q", raw, o)
			}
		}
	}
	m.named = !strings.HasPrefix(m.source, ".") && !strings.HasPrefix(m.source, "/") && !strings.HasPrefix(m.source, "~")
	return m, nil
}

// mountOf returns the mount whose target holds the absolute path p.
func (s *composeService) mountOf(p string) (mount, bool) {
	var best mount
	found := false
	for _, m := range s.mounts {
		if p == m.target || strings.HasPrefix(p, strings.TrimSuffix(m.target, "/")+"/") {
			if !found || len(m.target) > len(best.target) {
				best, found = m, true
			}
		}
	}
	return best, found
}

// containerPorts returns the container side of the service's published
// ports.
func (s *composeService) containerPorts() ([]string, error) {
	var out []string
	for _, p := range s.Ports {
		p, err := interpolate(p)
		if err != nil {
			return nil, err
		}
		parts := strings.Split(p, ":")
		out = append(out, strings.TrimSuffix(parts[len(parts)-1], "/tcp"))
	}
	return out, nil
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate substitutes Compose variables as `docker compose` does with
// none of them set: ${NAME:-default} and ${NAME-default} give the default,
// ${NAME} and $NAME the empty string, $$ a dollar, and ${NAME:?message} or
// ${NAME?message} is an error, since the stack must start with no
// variables set.
func interpolate(s string) (string, error) {
	var err error
	out := varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		switch {
		case ref == "$$":
			return "$"
		case m[4] != "":
			return ""
		case m[2] == ":-" || m[2] == "-":
			return m[3]
		case m[2] == ":?" || m[2] == "?":
			err = errors.Join(err, fmt.Errorf("%s: the variable %s is required, so the stack does not start without it", ref, m[1]))
		}
		return ""
	})
	if strings.Contains(out, "${") {
		err = errors.Join(err, fmt.Errorf("%q: unsupported substitution", s))
	}
	return out, err
}

// repoRoot returns the repository root, the parent of this package's
// directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// loadCompose reads and checks the shape of docker-compose.yml: Compose
// keys only, list-form commands, unquoted-boolean-free environments and
// parseable volumes.
func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	path := filepath.Join(repoRoot(t), "docker-compose.yml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for k := range c.Other {
		if !strings.HasPrefix(k, "x-") && !slices.Contains(topKeys, k) {
			t.Errorf("docker-compose.yml: top-level key %q is not a Compose key (want one of %q or x-...)", k, topKeys)
		}
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	for name, s := range c.Services {
		s.name = name
		for k := range s.Other {
			if !strings.HasPrefix(k, "x-") && !slices.Contains(serviceKeys, k) {
				t.Errorf("service %s: %q is not a Compose service key", name, k)
			}
		}
		for _, v := range s.Volumes {
			m, err := parseMount(v)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				continue
			}
			s.mounts = append(s.mounts, m)
		}
		for _, a := range s.Command {
			v, err := interpolate(a)
			if err != nil {
				t.Errorf("service %s: command: %v", name, err)
			}
			s.command = append(s.command, v)
		}
	}
	return &c
}

// sortedNames returns the service names in order, for stable output.
func (c *composeFile) sortedNames() []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// byHost returns the service reachable as host on the compose network: by
// its name or its hostname.
func (c *composeFile) byHost(host string) *composeService {
	for _, n := range c.sortedNames() {
		if s := c.Services[n]; n == host || s.Hostname == host {
			return s
		}
	}
	return nil
}

func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	root := repoRoot(t)
	conditions := []string{"service_started", "service_healthy", "service_completed_successfully"}
	for _, name := range c.sortedNames() {
		s := c.Services[name]
		t.Run(name, func(t *testing.T) {
			if s.Image == "" && s.Build == nil {
				t.Error("neither image nor build")
			}
			if s.Build == nil {
				// An image pulled from a registry: pinned to a version, so
				// that the stack does not change under the operator.
				_, tag, ok := strings.Cut(s.Image, ":")
				if !ok || tag == "" || tag == "latest" {
					t.Errorf("image %q: pin a version tag", s.Image)
				}
			}
			for dep, cond := range s.DependsOn {
				d, ok := c.Services[dep]
				switch {
				case !ok:
					t.Errorf("depends_on %s: no such service", dep)
				case !slices.Contains(conditions, cond):
					t.Errorf("depends_on %s: condition %q, want one of %q", dep, cond, conditions)
				case cond == "service_healthy" && d.Healthcheck == nil:
					t.Errorf("depends_on %s: service_healthy, but %s has no healthcheck", dep, dep)
				case len(d.Profiles) > 0 && len(s.Profiles) == 0:
					t.Errorf("depends_on %s, which only runs in profiles %q", dep, d.Profiles)
				}
			}
			if h := s.Healthcheck; h != nil && (len(h.Test) < 2 || !slices.Contains([]string{"CMD", "CMD-SHELL"}, h.Test[0])) {
				t.Errorf("healthcheck test %q: want [CMD, ...] or [CMD-SHELL, command]", h.Test)
			}
			for _, m := range s.mounts {
				switch {
				case m.named:
					if _, ok := c.Volumes[m.source]; !ok {
						t.Errorf("volume %s is not declared under the top-level volumes", m.source)
					}
				case !m.variable:
					// A bind mount of the repository's files: it must
					// exist, or Docker creates an empty directory in its
					// place and the service starts without its
					// configuration.
					if _, err := os.Stat(filepath.Join(root, m.source)); err != nil {
						t.Errorf("bind mount %s -> %s: %v", m.source, m.target, err)
					}
				}
			}
			if _, err := s.containerPorts(); err != nil {
				t.Error(err)
			}
			for k, v := range s.Environment {
				if _, err := interpolate(v); err != nil {
					t.Errorf("environment %s: %v", k, err)
				}
			}
		})
	}
	for v := range c.Volumes {
		used := false
		for _, s := range c.Services {
			used = used || slices.ContainsFunc(s.mounts, func(m mount) bool { return m.named && m.source == v })
		}
		if !used {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}
}

// TestKafkaService checks the broker: the Kafka version `make test` runs
// (deploy/kafka/pom.xml, which is the one place that version is written),
// a single KRaft node that is broker and controller, and a listener
// advertised under the service's own name for the other containers.
func TestKafkaService(t *testing.T) {
	c := loadCompose(t)
	k := c.Services["kafka"]
	if k == nil {
		t.Fatal("docker-compose.yml: no kafka service")
	}
	pom, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "kafka", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<kafka\.version>([^<]+)</kafka\.version>`).FindSubmatch(pom)
	if m == nil {
		t.Fatal("deploy/kafka/pom.xml: no <kafka.version>")
	}
	if want := "apache/kafka:" + string(m[1]); k.Image != want {
		t.Errorf("kafka image %q, want %q: the version of deploy/kafka/pom.xml, which `make test` runs", k.Image, want)
	}
	if !strings.HasPrefix(string(m[1]), "4.1.") {
		t.Errorf("Kafka %s: deploy/README.md says why 4.1 (kafka-go's JoinGroup versions); check kafka-go's consumer groups against a new version before moving", m[1])
	}
	env := k.Environment
	if roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ","); !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES=%q: want a combined broker,controller node", env["KAFKA_PROCESS_ROLES"])
	}
	for _, v := range []string{"KAFKA_NODE_ID", "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_CONTROLLER_LISTENER_NAMES",
		"KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_LOG_DIRS",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "CLUSTER_ID"} {
		if env[v] == "" {
			t.Errorf("kafka: %s is not set", v)
		}
	}
	if rf := env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]; rf != "1" {
		t.Errorf("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=%q: one broker holds one replica, want 1 (the default, 3, leaves consumer groups without a coordinator)", rf)
	}
	if mt, ok := k.mountOf(env["KAFKA_LOG_DIRS"]); !ok || !mt.named {
		t.Errorf("KAFKA_LOG_DIRS=%q is not on a named volume: the topics would not survive a new container", env["KAFKA_LOG_DIRS"])
	}
	// Each advertised listener is one the broker listens on, on the same
	// port, and one of them is reachable from the other containers.
	ports := map[string]string{} // listener name -> port
	for _, l := range strings.Split(env["KAFKA_LISTENERS"], ",") {
		name, addr, _ := strings.Cut(strings.TrimSpace(l), "://")
		_, port, _ := net.SplitHostPort(addr)
		ports[name] = port
	}
	internal := false
	for _, l := range strings.Split(env["KAFKA_ADVERTISED_LISTENERS"], ",") {
		name, addr, _ := strings.Cut(strings.TrimSpace(l), "://")
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("KAFKA_ADVERTISED_LISTENERS: %q: %v", l, err)
			continue
		}
		if lp, ok := ports[name]; !ok || lp != port {
			t.Errorf("KAFKA_ADVERTISED_LISTENERS: %s advertises port %s, but KAFKA_LISTENERS=%q has it on %q", name, port, env["KAFKA_LISTENERS"], lp)
		}
		internal = internal || c.byHost(host) == k
	}
	if !internal {
		t.Errorf("KAFKA_ADVERTISED_LISTENERS=%q: none is reachable from the other containers (host kafka)", env["KAFKA_ADVERTISED_LISTENERS"])
	}
}

// advertised returns the host:port addresses the broker advertises.
func advertised(kafka *composeService) []string {
	var out []string
	for _, l := range strings.Split(kafka.Environment["KAFKA_ADVERTISED_LISTENERS"], ",") {
		if _, addr, ok := strings.Cut(strings.TrimSpace(l), "://"); ok {
			out = append(out, addr)
		}
	}
	return out
}
