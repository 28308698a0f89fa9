package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	image, name string
	body        []instruction
}

// readDockerfile splits the Dockerfile into stages.
func readDockerfile(t *testing.T, file string) []stage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() //nolint:errcheck // read-only
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && cur.Len() == 0) {
			continue // comments, also inside continued instructions
		}
		if cur.Len() == 0 {
			start = n
		}
		more := strings.HasSuffix(l, `\`)
		cur.WriteString(strings.TrimSuffix(l, `\`) + " ")
		if more {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			st := stage{}
			words := strings.Fields(in.args)
			words = slices.DeleteFunc(words, func(w string) bool { return strings.HasPrefix(w, "--") })
			if len(words) == 0 {
				t.Fatalf("%s:%d: FROM without an image", file, n)
			}
			st.image = words[0]
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.name = words[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			t.Fatalf("%s:%d: %s before the first FROM", file, n, in.cmd)
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d stage(s), want a build stage and a runtime stage", file, len(stages))
	}
	return stages
}

// copyInstr is a COPY's options and paths.
type copyInstr struct {
	from, chown string
	srcs        []string
	dst         string
}

func parseCopy(args string) copyInstr {
	var c copyInstr
	var paths []string
	for _, w := range strings.Fields(args) {
		switch {
		case strings.HasPrefix(w, "--from="):
			c.from = strings.TrimPrefix(w, "--from=")
		case strings.HasPrefix(w, "--chown="):
			c.chown = strings.TrimPrefix(w, "--chown=")
		case strings.HasPrefix(w, "--"):
		default:
			paths = append(paths, w)
		}
	}
	if len(paths) > 0 {
		c.srcs, c.dst = paths[:len(paths)-1], paths[len(paths)-1]
	}
	return c
}

// isRoot says whether a USER or --chown value is root.
func isRoot(user string) bool {
	u, _, _ := strings.Cut(user, ":")
	return u == "" || u == "root" || u == "0"
}

// TestDockerfile checks the image that docker-compose.yml builds: Go of
// go.mod's version builds ./cmd/sessionrec; the runtime stage runs that
// binary as its entry point, as a non-root user, and owns the directories
// the compose stack mounts named volumes on (a new named volume takes the
// owner of the image's directory, so that user can write there).
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	file := filepath.Join(root, "deploy", "Dockerfile")
	stages := readDockerfile(t, file)

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod: no go directive")
	}
	wantGo := "golang:" + string(m[1])

	// The build stage: the one that runs go build of ./cmd/sessionrec.
	var build *stage
	binOut := ""
	for i, st := range stages[:len(stages)-1] {
		for _, in := range st.body {
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") || !strings.Contains(in.args, "./cmd/sessionrec") {
				continue
			}
			build = &stages[i]
			if o := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(in.args); o != nil {
				binOut = o[1]
			}
			if !strings.Contains(in.args, "CGO_ENABLED=0") {
				t.Errorf("%s:%d: build with CGO_ENABLED=0: the runtime image has no C library", file, in.line)
			}
		}
	}
	if build == nil || binOut == "" {
		t.Fatalf("%s: no build stage runs `go build -o PATH ./cmd/sessionrec`", file)
	}
	if build.image != wantGo && !strings.HasPrefix(build.image, wantGo+".") && !strings.HasPrefix(build.image, wantGo+"-") {
		t.Errorf("%s: the build stage is FROM %s, want %s (go.mod's go version)", file, build.image, wantGo)
	}

	final := stages[len(stages)-1]
	if strings.HasPrefix(final.image, "golang:") {
		t.Errorf("%s: the runtime stage is FROM %s: want a small runtime image, not the Go toolchain", file, final.image)
	}
	var user, entry string
	var binary string
	owned := map[string]string{} // directory -> --chown
	var expose []string
	for _, in := range final.body {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			var e []string
			if err := json.Unmarshal([]byte(in.args), &e); err != nil || len(e) == 0 {
				t.Errorf("%s:%d: ENTRYPOINT %s: want the exec form, [\"/path/to/sessionrec\"], so that signals reach the binary", file, in.line, in.args)
				continue
			}
			entry = e[0]
		case "COPY":
			c := parseCopy(in.args)
			if c.from == build.name && slices.Contains(c.srcs, binOut) {
				binary = c.dst
			}
			if c.chown != "" {
				owned[path.Clean(c.dst)] = c.chown
			}
		case "EXPOSE":
			expose = append(expose, strings.Fields(in.args)...)
		}
	}
	if isRoot(user) {
		t.Errorf("%s: the runtime stage runs as %q: want a non-root USER", file, user)
	}
	if binary == "" {
		t.Errorf("%s: the runtime stage does not COPY --from=%s %s", file, build.name, binOut)
	}
	if entry != binary {
		t.Errorf("%s: ENTRYPOINT %q, want the binary copied from the build stage, %q: docker-compose.yml's commands are sessionrec subcommands", file, entry, binary)
	}

	c := loadCompose(t)
	run, port := runHTTPPort(t, c)
	if !slices.Contains(expose, port) && !slices.Contains(expose, port+"/tcp") {
		t.Errorf("%s: EXPOSE %q lacks %s, the port of service %s's -http", file, expose, port, run.name)
	}
	checked := map[string]bool{}
	for _, sc := range sessionrecCommands(t, c, loadCLI(t)) {
		s := sc.service
		if s.Build == nil || s.Build.Context != "." {
			t.Errorf("service %s: build context %v, want the repository root (\".\"), which deploy/Dockerfile copies", s.name, s.Build)
		}
		for _, mt := range s.mounts {
			if !mt.named || checked[mt.target] {
				continue
			}
			checked[mt.target] = true
			switch chown, ok := owned[path.Clean(mt.target)]; {
			case !ok:
				t.Errorf("service %s mounts volume %s on %s, which the runtime stage does not create with COPY --chown: a new volume would be root's, and %s cannot write to it", s.name, mt.source, mt.target, user)
			case chown != user:
				t.Errorf("%s: %s is owned by %s, the image runs as %s", file, mt.target, chown, user)
			}
		}
	}
}

// TestDockerignore checks that deploy/Dockerfile.dockerignore leaves in the
// build context every file the binary is built from: go.mod, go.sum and the
// Go, assembly and embedded files of every package of this module that
// ./cmd/sessionrec imports, for any target platform (files other platforms
// build are listed by go list as ignored, and are checked too).
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	patterns := readIgnore(t, filepath.Join(root, "deploy", "Dockerfile.dockerignore"))
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps", "-json=Dir,GoFiles,IgnoredGoFiles,SFiles,HFiles,CgoFiles,EmbedFiles,SysoFiles,Module", "./cmd/sessionrec")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/sessionrec: %v\n%s", err, stderr.Bytes())
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Dir                                                                      string
			GoFiles, IgnoredGoFiles, SFiles, HFiles, CgoFiles, EmbedFiles, SysoFiles []string
			Module                                                                   *struct{ Main bool }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range slices.Concat(p.GoFiles, p.IgnoredGoFiles, p.SFiles, p.HFiles, p.CgoFiles, p.EmbedFiles, p.SysoFiles) {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %q: expected the module's packages", files)
	}
	for _, f := range files {
		if p := ignored(patterns, f); p != "" {
			t.Errorf("deploy/Dockerfile.dockerignore: %q leaves %s out of the build context, and the binary is built from it", p, f)
		}
	}
	// And the ignore file does ignore: a sanity check of the matcher.
	for _, f := range []string{".git/config", "sessionrec-data/000001.log", "model.bin"} {
		if ignored(patterns, f) == "" {
			t.Errorf("deploy/Dockerfile.dockerignore: %s is sent to the builder", f)
		}
	}
}

// readIgnore reads a .dockerignore file's patterns, comments and blank
// lines dropped.
func readIgnore(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// ignored returns the pattern that excludes the slash-separated path p
// from the build context, or "" when it is sent, with Docker's rules:
// patterns are relative to the context root (a leading slash is dropped),
// "**" matches any number of directories, the other wildcards are
// path.Match's within one name, a pattern excludes a path when it matches
// the path or one of its parent directories, "!" re-includes, and the last
// matching pattern wins.
func ignored(patterns []string, p string) string {
	by := ""
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = path.Clean(strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/"))
		if matchIgnore(strings.Split(pat, "/"), strings.Split(p, "/")) {
			if neg {
				by = ""
			} else {
				by = pat
			}
		}
	}
	return by
}

// matchIgnore matches pattern segments against a path or any of its
// parents.
func matchIgnore(pat, segs []string) bool {
	if len(pat) == 0 {
		return true // the pattern matched a parent of the path
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if matchIgnore(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], segs[0])
	return err == nil && ok && matchIgnore(pat[1:], segs[1:])
}
