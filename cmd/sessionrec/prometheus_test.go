package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPrometheusScrapesTheDemo runs Debian's Prometheus on the compose
// stack's deploy/prometheus/prometheus.yml, its sessionrec target pointed
// at a running demo (the compose service name does not resolve here), and
// queries sessionrec_ series through Prometheus's own API: the config the
// stack ships is known to scrape what sessionrec serves. make test
// installs prometheus; without it the test fails.
func TestPrometheusScrapesTheDemo(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	require.NoError(t, err, "Debian's prometheus is needed (make test installs it: apt-get install prometheus)")
	promtool, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool comes with Debian's prometheus package")
	shipped := filepath.Join("..", "..", "deploy", "prometheus", "prometheus.yml")
	check, err := exec.Command(promtool, "check", "config", "--syntax-only", shipped).CombinedOutput()
	require.NoError(t, err, "promtool check config: %s", check)

	d := startDemo(t, "--duration", "120s")
	target := strings.TrimPrefix(d.base, "http://")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	promAddr := l.Addr().String()
	require.NoError(t, l.Close())

	b, err := os.ReadFile(shipped)
	require.NoError(t, err)
	cfg := string(b)
	require.Contains(t, cfg, `"sessionrec:8080"`)
	require.Contains(t, cfg, `"localhost:9090"`)
	cfg = strings.ReplaceAll(cfg, `"sessionrec:8080"`, fmt.Sprintf("%q", target))
	cfg = strings.ReplaceAll(cfg, `"localhost:9090"`, fmt.Sprintf("%q", promAddr))
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))

	var logs lockedBuffer
	cmd := exec.Command(prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	query := func(q string) (int, error) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return 0, err
		}
		if r.Status != "success" {
			return 0, fmt.Errorf("status %q", r.Status)
		}
		return len(r.Data.Result), nil
	}
	// The first scrape comes within a scrape interval (5 s) of start.
	for _, q := range []string{`up{job="sessionrec"} == 1`, `sessionrec_model_info == 1`, `count({__name__=~"sessionrec_.+"}) > 10`} {
		require.Eventually(t, func() bool {
			n, err := query(q)
			return err == nil && n > 0
		}, 40*time.Second, 250*time.Millisecond, "query %s: Prometheus log:\n%s", q, &logs)
	}
}
