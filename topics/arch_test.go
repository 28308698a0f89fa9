package topics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The architecture test keeps the imports pointing one way,
// cmd -> processor -> {store, model, topics}: model imports no Kafka, no
// Pebble and nothing above it in the repo; store imports no Kafka and not
// processor (shared/STYLE.md, Layout).
//
// It asks `go list -deps` for the import graph of each rule's packages
// (production code only: test-only imports are not part of the graph) and
// walks it from every package the pattern matches, so a forbidden package
// reached through a third-party or in-repo helper is caught too, and the
// failure names the chain of imports that reaches it.

// importRule forbids the packages matched by pattern to depend, directly or
// transitively, on any of forbidden.
type importRule struct {
	name string
	// pattern is a go list pattern relative to the module root.
	pattern string
	// forbidden are import paths; each also forbids the packages below it
	// (github.com/twmb/franz-go forbids github.com/twmb/franz-go/pkg/kgo).
	forbidden []string
	// mayBeEmpty is set for packages that do not exist yet: the rule then
	// holds vacuously, and starts applying as soon as the first package of
	// the pattern appears.
	mayBeEmpty bool
}

const (
	kafkaGo = "github.com/segmentio/kafka-go"
	franzGo = "github.com/twmb/franz-go"
	pebble  = "github.com/cockroachdb/pebble"
)

func TestImportDirection(t *testing.T) {
	root, module := moduleRoot(t)
	rules := []importRule{
		{
			name:    "model is pure computation",
			pattern: "./model/...",
			forbidden: []string{
				kafkaGo, franzGo, pebble,
				module + "/processor", module + "/store", module + "/topics", module + "/cmd",
			},
		},
		{
			name:       "store imports no Kafka",
			pattern:    "./store/...",
			forbidden:  []string{kafkaGo, franzGo, module + "/processor"},
			mayBeEmpty: true,
		},
	}
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			g, roots := listDeps(t, root, tc.pattern)
			if len(roots) == 0 {
				if !tc.mayBeEmpty {
					t.Fatalf("pattern %s matched no packages: want at least one (has the package moved?)", tc.pattern)
				}
				t.Logf("pattern %s matches no packages yet: nothing to check", tc.pattern)
				return
			}
			t.Logf("checked %d packages of %s against %d forbidden imports", len(roots), tc.pattern, len(tc.forbidden))
			for _, v := range violations(g, roots, tc.forbidden) {
				t.Error(v)
			}
		})
	}
}

// violation is a root package that reaches a forbidden import path.
type violation struct {
	pkg       string
	forbidden string   // the forbidden path (or path prefix) that matched
	chain     []string // pkg, ..., the forbidden package
}

func (v violation) String() string {
	return fmt.Sprintf("%s imports %s (forbidden: %s) via %s",
		v.pkg, v.chain[len(v.chain)-1], v.forbidden, strings.Join(v.chain, " -> "))
}

// violations walks g from each root (breadth first, so each chain reported
// is a shortest one) and returns, per root, every forbidden package it
// reaches, ordered by root then by package.
func violations(g map[string][]string, roots, forbidden []string) []violation {
	var out []violation
	for _, r := range roots {
		parent := map[string]string{r: ""}
		queue := []string{r}
		var found []violation
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			// Only what a root imports can be a violation, not the root.
			if f, ok := matchForbidden(p, forbidden); ok && p != r {
				var chain []string
				for q := p; q != ""; q = parent[q] {
					chain = append(chain, q)
				}
				slices.Reverse(chain)
				found = append(found, violation{pkg: r, forbidden: f, chain: chain})
				// Not descending further: one report per forbidden
				// package, not one per package below it.
				continue
			}
			for _, imp := range g[p] {
				if _, seen := parent[imp]; !seen {
					parent[imp] = p
					queue = append(queue, imp)
				}
			}
		}
		slices.SortFunc(found, func(a, b violation) int {
			return strings.Compare(a.chain[len(a.chain)-1], b.chain[len(b.chain)-1])
		})
		out = append(out, found...)
	}
	return out
}

// matchForbidden reports the entry of forbidden that pkg is or is below.
// The match is on path elements: github.com/segmentio/kafka-go forbids
// .../kafka-go/protocol but not .../kafka-goes.
func matchForbidden(pkg string, forbidden []string) (string, bool) {
	for _, f := range forbidden {
		if pkg == f || strings.HasPrefix(pkg, f+"/") {
			return f, true
		}
	}
	return "", false
}

// listDeps runs `go list -deps` on pattern in the module root and returns
// the import graph of the matched packages and their dependencies (package
// -> its direct imports) and the matched packages themselves, sorted. A
// pattern whose directory does not exist matches nothing.
func listDeps(t *testing.T, root, pattern string) (graph map[string][]string, roots []string) {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(pattern, "/...")))
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	cmd := exec.CommandContext(t.Context(), "go", "list", "-deps",
		"-f", "{{.ImportPath}} {{.DepOnly}} {{join .Imports \" \"}}", pattern)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pattern, err, stderr.Bytes())
	}
	graph, roots, err = parseDeps(out)
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	return graph, roots
}

// parseDeps parses the lines "importpath depOnly import..." that listDeps
// asks go list for.
func parseDeps(out []byte) (graph map[string][]string, roots []string, err error) {
	graph = make(map[string][]string)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, nil, fmt.Errorf("malformed line %q", sc.Text())
		}
		graph[f[0]] = f[2:]
		switch f[1] {
		case "false":
			roots = append(roots, f[0])
		case "true":
		default:
			return nil, nil, fmt.Errorf("malformed DepOnly %q in line %q", f[1], sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	slices.Sort(roots)
	return graph, roots, nil
}

// moduleRoot returns the directory holding go.mod, found by walking up from
// the working directory (the package directory under go test), and the
// module path it declares.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for line := range strings.Lines(string(data)) {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
					return dir, strings.Trim(f[1], `"`)
				}
			}
			t.Fatalf("%s/go.mod: no module line", dir)
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod in the working directory or above it")
		}
		dir = parent
	}
}

// TestViolations checks the checker on hand-made graphs, so that
// TestImportDirection passing means the rules hold, not that the check
// cannot fail.
func TestViolations(t *testing.T) {
	const m = "example.com/m"
	forbidden := []string{kafkaGo, pebble, m + "/store"}
	tests := []struct {
		name  string
		graph map[string][]string
		roots []string
		want  []string
	}{
		{
			name: "clean",
			graph: map[string][]string{
				m + "/model":      {"fmt", m + "/model/vec"},
				m + "/model/vec":  {"math"},
				m + "/storefront": {}, // a sibling name, not below store
				"fmt":             {},
				"math":            {},
			},
			roots: []string{m + "/model", m + "/model/vec", m + "/storefront"},
		},
		{
			name: "direct import",
			graph: map[string][]string{
				m + "/model":          {"fmt", kafkaGo},
				kafkaGo:               {kafkaGo + "/protocol"},
				kafkaGo + "/protocol": {},
			},
			roots: []string{m + "/model"},
			want: []string{
				m + "/model imports " + kafkaGo + " (forbidden: " + kafkaGo + ") via " + m + "/model -> " + kafkaGo,
			},
		},
		{
			name: "subpackage through a helper, shortest chain",
			graph: map[string][]string{
				m + "/model":         {m + "/model/eval", "example.com/helper"},
				m + "/model/eval":    {"example.com/helper"},
				"example.com/helper": {pebble + "/vfs"},
				pebble + "/vfs":      {},
			},
			roots: []string{m + "/model", m + "/model/eval"},
			want: []string{
				m + "/model imports " + pebble + "/vfs (forbidden: " + pebble + ") via " + m + "/model -> example.com/helper -> " + pebble + "/vfs",
				m + "/model/eval imports " + pebble + "/vfs (forbidden: " + pebble + ") via " + m + "/model/eval -> example.com/helper -> " + pebble + "/vfs",
			},
		},
		{
			name: "root below a forbidden path: only its imports count",
			graph: map[string][]string{
				m + "/store/keys": {"fmt", m + "/store"},
				m + "/store":      {},
				"fmt":             {},
			},
			roots: []string{m + "/store/keys"},
			want: []string{
				m + "/store/keys imports " + m + "/store (forbidden: " + m + "/store) via " + m + "/store/keys -> " + m + "/store",
			},
		},
		{
			name: "every forbidden package, once",
			graph: map[string][]string{
				m + "/model": {pebble, m + "/store", kafkaGo},
				m + "/store": {pebble},
				pebble:       {},
				kafkaGo:      {},
			},
			roots: []string{m + "/model"},
			want: []string{
				m + "/model imports " + m + "/store (forbidden: " + m + "/store) via " + m + "/model -> " + m + "/store",
				m + "/model imports " + pebble + " (forbidden: " + pebble + ") via " + m + "/model -> " + pebble,
				m + "/model imports " + kafkaGo + " (forbidden: " + kafkaGo + ") via " + m + "/model -> " + kafkaGo,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, v := range violations(tc.graph, tc.roots, forbidden) {
				got = append(got, v.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d violations:\n%s\nwant %d:\n%s",
					len(got), strings.Join(got, "\n"), len(tc.want), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseDeps(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantGraph map[string][]string
		wantRoots []string
		wantErr   bool
	}{
		{
			name:      "empty: pattern matched nothing",
			in:        "",
			wantGraph: map[string][]string{},
		},
		{
			name: "roots and deps",
			in:   "fmt true io\nio true\nex/b false fmt\nex/a false ex/b fmt\n",
			wantGraph: map[string][]string{
				"fmt": {"io"}, "io": {}, "ex/b": {"fmt"}, "ex/a": {"ex/b", "fmt"},
			},
			wantRoots: []string{"ex/a", "ex/b"},
		},
		{name: "missing DepOnly", in: "fmt\n", wantErr: true},
		{name: "bad DepOnly", in: "fmt maybe io\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, roots, err := parseDeps([]byte(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got graph %v, want an error", g)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(g) != len(tc.wantGraph) {
				t.Errorf("got %d packages %v, want %d %v", len(g), g, len(tc.wantGraph), tc.wantGraph)
			}
			for p, want := range tc.wantGraph {
				if got, ok := g[p]; !ok || !slices.Equal(got, want) {
					t.Errorf("package %s: got imports %v (present %t), want %v", p, got, ok, want)
				}
			}
			if !slices.Equal(roots, tc.wantRoots) {
				t.Errorf("got roots %v, want %v", roots, tc.wantRoots)
			}
		})
	}
}
