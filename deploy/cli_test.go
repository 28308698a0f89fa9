package deploy

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The sessionrec CLI as the binary describes itself. The binary is built
// from ./cmd/sessionrec and asked, never read from its source: "help" lists
// the subcommands, "<subcommand> -h" prints a subcommand's flags in the
// flag package's format, and a subcommand with actions (topics
// create|check) answers -h with its usage line instead, naming them.

// cliSpec maps a command ("run", "topics create") to its flags, and each
// flag to its type as -h prints it: "" for a boolean, else "string", "int",
// "uint", "float", "duration", ... (a type the tests do not know is taken
// as any string).
type cliSpec map[string]map[string]string

var (
	cliOnce sync.Once
	cli     cliSpec
	cliErr  error
)

// loadCLI builds the binary once per test run and reads its commands.
func loadCLI(t *testing.T) cliSpec {
	t.Helper()
	root := repoRoot(t)
	cliOnce.Do(func() {
		// The binary is only run in here: the spec is what is kept.
		bin := filepath.Join(t.TempDir(), "sessionrec")
		build := exec.Command("go", "build", "-o", bin, "./cmd/sessionrec")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build ./cmd/sessionrec: %w\n%s", err, out)
			return
		}
		cli, cliErr = readCLI(bin)
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cli
}

var (
	commandLine = regexp.MustCompile(`^  (\S+)\s{2,}\S`)
	flagLine    = regexp.MustCompile(`^  -(\S+)(?: (\S+))?(?:\t.*)?$`)
	actionsLine = regexp.MustCompile(`usage: sessionrec (\S+) (\S+) \[flags\]`)
)

func readCLI(bin string) (cliSpec, error) {
	out, err := runBin(bin, "help")
	if err != nil {
		return nil, err
	}
	var commands []string
	inList := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.TrimSpace(l) == "commands:":
			inList = true
		case inList && commandLine.MatchString(l):
			commands = append(commands, commandLine.FindStringSubmatch(l)[1])
		case inList && strings.TrimSpace(l) == "":
			inList = false
		}
	}
	if len(commands) == 0 {
		return nil, fmt.Errorf("sessionrec help lists no commands:\n%s", out)
	}
	spec := cliSpec{}
	for _, c := range commands {
		out, _ := runBin(bin, c, "-h") // -h exits 2 (flag.ErrHelp)
		if strings.Contains(out, "Usage of ") {
			spec[c] = parseFlags(out)
			continue
		}
		m := actionsLine.FindStringSubmatch(out)
		if m == nil || m[1] != c {
			return nil, fmt.Errorf("sessionrec %s -h: neither flags nor a usage line with actions:\n%s", c, out)
		}
		for _, a := range strings.Split(m[2], "|") {
			out, _ := runBin(bin, c, a, "-h")
			if !strings.Contains(out, "Usage of ") {
				return nil, fmt.Errorf("sessionrec %s %s -h: no flags:\n%s", c, a, out)
			}
			spec[c+" "+a] = parseFlags(out)
		}
	}
	return spec, nil
}

// runBin runs the binary, for at most 30 s, and returns its stdout and
// stderr together. The SESSIONREC_* variables of the test's environment
// (make test sets SESSIONREC_BROKERS) are left out: the commands read
// their flags' defaults from them, and a value one does not accept would
// answer -h with an error instead of the flags.
func runBin(bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SESSIONREC_") })
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("sessionrec %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// parseFlags reads flag.PrintDefaults output: "  -name type" lines (the
// type missing for booleans), usage lines indented by a tab.
func parseFlags(help string) map[string]string {
	flags := map[string]string{}
	for _, l := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(l); m != nil {
			flags[m[1]] = m[2]
		}
	}
	return flags
}

// parseArgs parses args as the flag package does for flags: "-name",
// "--name", "-name=value", "-name value" (not for booleans); the first
// argument that is not a flag ends the flags. It returns the flags given
// (the last value of a repeated one) and the arguments left.
func parseArgs(flags map[string]string, args []string) (map[string]string, []string, error) {
	got := map[string]string{}
	for len(args) > 0 {
		a := args[0]
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		typ, ok := flags[name]
		if !ok {
			return nil, nil, fmt.Errorf("flag -%s is not defined", name)
		}
		if typ == "" {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if len(args) == 0 {
				return nil, nil, fmt.Errorf("flag -%s needs a value", name)
			}
			value, args = args[0], args[1:]
		}
		if err := checkValue(typ, value); err != nil {
			return nil, nil, fmt.Errorf("flag -%s=%q: %w", name, value, err)
		}
		got[name] = value
	}
	return got, args, nil
}

// checkValue checks that value parses as the flag package parses a flag of
// type typ.
func checkValue(typ, value string) error {
	var err error
	switch typ {
	case "":
		_, err = strconv.ParseBool(value)
	case "int", "int64":
		_, err = strconv.ParseInt(value, 0, 64)
	case "uint", "uint64":
		_, err = strconv.ParseUint(value, 0, 64)
	case "float":
		_, err = strconv.ParseFloat(value, 64)
	case "duration":
		_, err = time.ParseDuration(value)
	}
	return err
}

// sessionrecCommand is a compose service that runs the sessionrec image.
type sessionrecCommand struct {
	service *composeService
	command string            // "run", "topics create", ...
	flags   map[string]string // the flags given, interpolated
}

// sessionrecCommands parses the command of every service that runs the
// image built from deploy/Dockerfile, failing on any subcommand, flag or
// value the binary would refuse, and on arguments it would ignore.
func sessionrecCommands(t *testing.T, c *composeFile, spec cliSpec) []sessionrecCommand {
	t.Helper()
	image := ""
	for _, name := range c.sortedNames() {
		if s := c.Services[name]; s.Build != nil && filepath.ToSlash(filepath.Clean(s.Build.Dockerfile)) == "deploy/Dockerfile" {
			image = s.Image
		}
	}
	if image == "" {
		t.Fatal("docker-compose.yml: no service builds deploy/Dockerfile")
	}
	var out []sessionrecCommand
	for _, name := range c.sortedNames() {
		s := c.Services[name]
		if s.Image != image {
			continue
		}
		if len(s.command) == 0 {
			t.Errorf("service %s runs %s without a command: the image's default only prints help", name, image)
			continue
		}
		cmd := s.command[0]
		args := s.command[1:]
		if _, ok := spec[cmd]; !ok && len(args) > 0 {
			cmd, args = cmd+" "+args[0], args[1:]
		}
		flags, ok := spec[cmd]
		if !ok {
			t.Errorf("service %s: sessionrec has no command %q (it has %q)", name, strings.Join(s.command[:min(2, len(s.command))], " "), specCommands(spec))
			continue
		}
		given, rest, err := parseArgs(flags, args)
		if err != nil {
			t.Errorf("service %s: sessionrec %s: %v", name, cmd, err)
			continue
		}
		if len(rest) > 0 {
			t.Errorf("service %s: sessionrec %s: arguments %q after the flags would be ignored (a value given to a boolean flag without =?)", name, cmd, rest)
			continue
		}
		out = append(out, sessionrecCommand{service: s, command: cmd, flags: given})
	}
	return out
}

func specCommands(spec cliSpec) []string {
	var out []string
	for c := range spec {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// TestComposeCommands checks every sessionrec command in
// docker-compose.yml against the binary, and the wiring around the
// commands: brokers Kafka advertises, paths on the service's volumes, the
// topics created before the processor starts, the model written where the
// processor can read it, the HTTP port published.
func TestComposeCommands(t *testing.T) {
	c := loadCompose(t)
	cmds := sessionrecCommands(t, c, loadCLI(t))
	kafka := c.Services["kafka"]
	if kafka == nil {
		t.Fatal("docker-compose.yml: no kafka service")
	}
	// Flags that write: their paths must be on writable mounts.
	writes := []string{"data-dir", "out"}
	var run, create *sessionrecCommand
	for i, sc := range cmds {
		switch sc.command {
		case "run":
			if run != nil {
				t.Errorf("services %s and %s both run the processor: one is enough here (each needs its own state volume)", run.service.name, sc.service.name)
			}
			run = &cmds[i]
		case "topics create":
			create = &cmds[i]
		}
		s := sc.service
		for flag, v := range sc.flags {
			if strings.HasPrefix(v, "/") {
				m, ok := s.mountOf(v)
				if !ok {
					t.Errorf("service %s: -%s=%s is on no volume of the service: it would be lost with the container", s.name, flag, v)
				} else if m.readOnly && slices.Contains(writes, flag) {
					t.Errorf("service %s: -%s=%s is on the read-only mount %s", s.name, flag, v, m.target)
				}
			}
		}
		if b, ok := sc.flags["brokers"]; ok {
			for _, addr := range strings.Split(b, ",") {
				if !slices.Contains(advertised(kafka), addr) {
					t.Errorf("service %s: broker %s is not one Kafka advertises (%q)", s.name, addr, advertised(kafka))
				}
			}
		}
	}
	if create == nil {
		t.Fatal("docker-compose.yml: no service runs `sessionrec topics create`")
	}
	// Whatever talks to Kafka starts once Kafka answers: it waits for a
	// healthy kafka, or for the topics to be created (which waits for it).
	for _, sc := range cmds {
		s := sc.service
		if _, ok := sc.flags["brokers"]; !ok {
			continue
		}
		healthy := s.DependsOn["kafka"] == "service_healthy"
		created := s != create.service && s.DependsOn[create.service.name] == "service_completed_successfully"
		if !healthy && !created {
			t.Errorf("service %s talks to Kafka but waits neither for a healthy kafka nor for %s to complete", s.name, create.service.name)
		}
	}
	if create.service.DependsOn["kafka"] != "service_healthy" {
		t.Errorf("service %s creates the topics: it must wait for a healthy kafka", create.service.name)
	}
	if run == nil {
		t.Fatal("docker-compose.yml: no service runs `sessionrec run`")
	}
	if cond := run.service.DependsOn[create.service.name]; cond != "service_completed_successfully" {
		t.Errorf("service %s: depends_on %s is %q, want service_completed_successfully: run refuses to start without the topics", run.service.name, create.service.name, cond)
	}
	if len(run.service.Profiles) > 0 {
		t.Errorf("service %s runs only in profiles %q: `docker compose up` would start no processor", run.service.name, run.service.Profiles)
	}
	if dir, ok := run.flags["data-dir"]; !ok || !strings.HasPrefix(dir, "/") {
		t.Errorf("service %s: -data-dir %q: want an absolute path on a volume (the default is relative to the working directory)", run.service.name, dir)
	} else if m, _ := run.service.mountOf(dir); !m.named {
		t.Errorf("service %s: -data-dir %s is not on a named volume", run.service.name, dir)
	}

	// The model: what a `train` service writes must be where `run` can
	// read it, the same volume at the same path, so that
	// SESSIONREC_MODEL=<the --out path> works as the compose file says.
	for _, sc := range cmds {
		if sc.command != "train" {
			continue
		}
		out := sc.flags["out"]
		wm, ok := sc.service.mountOf(out)
		if !ok {
			continue // reported above
		}
		rm, ok := run.service.mountOf(out)
		if !ok || rm.source != wm.source || rm.target != wm.target {
			t.Errorf("service %s writes the model to %s on volume %s, which service %s does not mount at %s", sc.service.name, out, wm.source, run.service.name, wm.target)
		}
	}

	// The HTTP address: reachable from the other containers and published.
	host, port, err := net.SplitHostPort(run.flags["http"])
	switch {
	case err != nil:
		t.Errorf("service %s: -http %q: %v (the default, localhost:9090, is not reachable from Prometheus's container)", run.service.name, run.flags["http"], err)
	case host != "" && host != "0.0.0.0" && host != "::":
		t.Errorf("service %s: -http %q listens on %s only: Prometheus's container cannot reach it", run.service.name, run.flags["http"], host)
	default:
		ports, err := run.service.containerPorts()
		if err != nil {
			t.Error(err)
		}
		if !slices.Contains(ports, port) {
			t.Errorf("service %s: -http port %s is not published (ports %q)", run.service.name, port, run.service.Ports)
		}
	}
}

// runHTTPPort returns the compose service that runs `sessionrec run` and
// the port of its --http address, for the Prometheus and Dockerfile tests.
func runHTTPPort(t *testing.T, c *composeFile) (*composeService, string) {
	t.Helper()
	for _, sc := range sessionrecCommands(t, c, loadCLI(t)) {
		if sc.command != "run" {
			continue
		}
		_, port, err := net.SplitHostPort(sc.flags["http"])
		if err != nil {
			t.Fatalf("service %s: -http %q: %v", sc.service.name, sc.flags["http"], err)
		}
		return sc.service, port
	}
	t.Fatal("docker-compose.yml: no service runs `sessionrec run`")
	return nil, ""
}
