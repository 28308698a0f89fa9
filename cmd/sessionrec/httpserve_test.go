package main

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// run --metrics-addr serves /metrics, /healthz and /readyz on that address
// and the query API alone on --http, so that a flood of queries cannot
// starve the probes.
func TestRunServesOpsApart(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	names := testTopics(t, brokers)
	api, ops := "http://"+freePort(t), "http://"+freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		args := append([]string{"run", "--brokers", brokers[0], "--group", "g" + string(names.Clicks), "--data-dir", t.TempDir(),
			"--http", api[len("http://"):], "--metrics-addr", ops[len("http://"):],
			"--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures)}, topicFlagsOf(names)...)
		done <- run(ctx, args, io.Discard, &errOut)
	}()

	type answer struct {
		status      int
		contentType string
		body        string
	}
	get := func(url string) (answer, error) {
		resp, err := http.Get(url)
		if err != nil {
			return answer{}, err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}, err
	}
	require.Eventually(t, func() bool {
		a, err := get(ops + "/readyz")
		return err == nil && a.status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready, as the probe on --metrics-addr says; stderr:\n%s", &errOut)

	for _, tc := range []struct {
		name, url string
		status    int
		json      bool
		bodyHolds string
	}{
		{"metrics apart", ops + "/metrics", 200, false, "sessionrec_sessions_closed_total"},
		{"healthz apart", ops + "/healthz", 200, false, "ok"},
		{"readyz apart", ops + "/readyz", 200, false, "ready"},
		{"no API apart", ops + "/v1/users/u1/session", 404, false, ""},
		{"the API", api + "/v1/users/u1/session", 404, true, `"error":"user \"u1\": no events seen"`},
		{"the API's description", api + "/v1/openapi.json", 200, true, `"openapi"`},
		{"no metrics with the API", api + "/metrics", 404, false, ""},
		{"no healthz with the API", api + "/healthz", 404, false, ""},
		{"no readyz with the API", api + "/readyz", 404, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := get(tc.url)
			require.NoError(t, err)
			if a.status != tc.status || (a.contentType == "application/json") != tc.json {
				t.Errorf("got %d %s, want %d (JSON %v): %s", a.status, a.contentType, tc.status, tc.json, a.body)
			}
			require.Contains(t, a.body, tc.bodyHolds)
		})
	}

	cancel()
	require.NoError(t, <-done, errOut.String())
}
