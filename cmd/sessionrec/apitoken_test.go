package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// run --api-token-file asks every /v1/ request for the file's token (its
// trailing newline trimmed) and leaves /metrics, /healthz and /readyz
// open; with --model-verify-key it does not warn that models go
// unverified.
func TestRunAPIToken(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	names := testTopics(t, brokers)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("tok-123\n"), 0o600))
	private, public := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	var keyOut, keyErr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keygen", "--out-private", private, "--out-public", public}, &keyOut, &keyErr), keyErr.String())

	api := "http://" + freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		args := append([]string{"run", "--brokers", brokers[0], "--group", "g" + string(names.Clicks), "--data-dir", filepath.Join(dir, "data"),
			"--http", api[len("http://"):], "--api-token-file", tokenFile, "--model-verify-key", public,
			"--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures)}, topicFlagsOf(names)...)
		done <- run(ctx, args, io.Discard, &errOut)
	}()
	get := func(path, auth string) (int, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, api+path, nil)
		if err != nil {
			return 0, err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	require.Eventually(t, func() bool {
		status, err := get("/readyz", "")
		return err == nil && status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "ready, without a token; stderr:\n%s", &errOut)

	for _, tc := range []struct {
		name, path, auth string
		status           int
	}{
		{"no token", "/v1/users/u1/session", "", 401},
		{"wrong token", "/v1/users/u1/session", "Bearer tok-124", 401},
		{"the token", "/v1/users/u1/session", "Bearer tok-123", 404}, // let in: no such user
		{"the spec, no token", "/v1/openapi.json", "", 401},
		{"metrics, no token", "/metrics", "", 200},
		{"healthz, no token", "/healthz", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, err := get(tc.path, tc.auth)
			require.NoError(t, err)
			require.Equal(t, tc.status, status, "got %d, want %d", status, tc.status)
		})
	}
	cancel()
	require.NoError(t, <-done)
	require.False(t, strings.Contains(errOut.String(), "are not verified"), "no warning with a verify key:\n%s", &errOut)
}
