package processor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// getWith fetches url with an Authorization header (none when auth is
// empty) and returns the status, the WWW-Authenticate header and the
// error of a JSON error body ("" for any other body).
func getWith(t *testing.T, url, auth string) (status int, challenge, errMsg string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { require.NoError(t, resp.Body.Close()) }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusUnauthorized {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "body: %s", body)
		require.Regexp(t, `^\{"error":"[^"]+"\}\n$`, string(body), "a JSON error like the API's others")
		errMsg = strings.TrimSuffix(strings.TrimPrefix(string(body), `{"error":"`), "\"}\n")
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), errMsg
}

// With APIConfig.Token set, every /v1/ request without the token answers
// 401 with a bearer challenge, one with it is served, and the operational
// endpoints stay open; the 401s are counted under the route
// "unauthorized".
func TestAPIToken(t *testing.T) {
	f := newAPIFixture(t)
	const token = "s3cret-Token_1"
	api, err := f.p.APIHandler(APIConfig{Token: token})
	require.NoError(t, err)
	srv := httptest.NewServer(Combine(f.p.OpsHandler(f.reg), api))
	t.Cleanup(srv.Close)

	paths := append(f.routes(), "/v1/openapi.json", "/v1/nothing")
	for _, tc := range []struct {
		name, auth string
		// status of the routes; /v1/nothing answers 404 once let in.
		status    int
		challenge string
		err       string
	}{
		{name: "no header", status: 401, challenge: `Bearer realm="sessionrec"`, err: "missing bearer token"},
		{name: "empty bearer", auth: "Bearer ", status: 401, challenge: `Bearer realm="sessionrec", error="invalid_token"`, err: "invalid bearer token"},
		{name: "wrong token", auth: "Bearer s3cret-Token_2", status: 401, challenge: `Bearer realm="sessionrec", error="invalid_token"`, err: "invalid bearer token"},
		{name: "a prefix of the token", auth: "Bearer s3cret", status: 401, challenge: `Bearer realm="sessionrec", error="invalid_token"`, err: "invalid bearer token"},
		{name: "the token and more", auth: "Bearer " + token + "x", status: 401, challenge: `Bearer realm="sessionrec", error="invalid_token"`, err: "invalid bearer token"},
		{name: "another scheme", auth: "Basic " + token, status: 401, challenge: `Bearer realm="sessionrec"`, err: "missing bearer token"},
		{name: "the token alone", auth: token, status: 401, challenge: `Bearer realm="sessionrec"`, err: "missing bearer token"},
		{name: "the token", auth: "Bearer " + token, status: 200},
		{name: "the scheme in lower case", auth: "bearer " + token, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range paths {
				status, challenge, msg := getWith(t, srv.URL+path, tc.auth)
				want := tc.status
				if path == "/v1/nothing" && want == 200 {
					want = 404
				}
				require.Equal(t, want, status, "%s: got %d, want %d", path, status, want)
				require.Equal(t, tc.challenge, challenge, path)
				require.Contains(t, msg, tc.err, path)
			}
		})
	}

	for _, path := range []string{"/metrics", "/healthz"} {
		status, _, _ := getWith(t, srv.URL+path, "")
		require.Equal(t, 200, status, "%s without a token: got %d, want 200", path, status)
	}
	status, _, _ := getWith(t, srv.URL+"/readyz", "")
	require.Equal(t, 503, status, "/readyz answers as ever (not in a group), not 401")

	got := map[string]float64{}
	mfs, err := f.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "sessionrec_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var route, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "status":
					code = l.GetValue()
				}
			}
			if code == "401" {
				got[route] += m.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, map[string]float64{routeUnauthorized: 7 * float64(len(paths))}, got, "401s by route")
}

// A request without the token is answered before the limits: with every
// slot in flight held, it gets 401, not 429, and takes no slot.
func TestAPITokenBeforeTheLimits(t *testing.T) {
	f := newAPIFixture(t)
	held := make(chan struct{}, 4)
	release := make(chan struct{})
	url := f.serveAPI(t, APIConfig{MaxInFlight: 1, Token: "t"}, func(context.Context) {
		held <- struct{}{}
		<-release
	})
	done := make(chan int, 1)
	go func() {
		req, err := http.NewRequest(http.MethodGet, url+f.routes()[0], nil)
		if err != nil {
			done <- 0
			return
		}
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-held // the one slot is taken

	for _, path := range f.routes() {
		status, _, _ := getWith(t, url+path, "")
		require.Equal(t, http.StatusUnauthorized, status, "%s without the token, every slot held", path)
	}
	status, _, _ := getWith(t, url+f.routes()[1], "Bearer t")
	require.Equal(t, http.StatusTooManyRequests, status, "with the token, the limits apply")
	close(release)
	require.Equal(t, http.StatusOK, <-done, "the held request")
	require.Empty(t, held, "no request without the token reached the limits")
}

// APIConfig.Token cannot hold what no client can send in a header.
func TestAPITokenConfig(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		ok          bool
	}{
		{name: "none", token: "", ok: true},
		{name: "set", token: "abc.DEF-123_~+/=", ok: true},
		{name: "inner space", token: "two words", ok: true},
		{name: "second line", token: "abc\ndef"},
		{name: "trailing space", token: "abc "},
		{name: "control character", token: "abc\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := APIConfig{Token: tc.token}
			err := cfg.fill()
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, tc.token, cfg.Token, "the token is kept as given")
				return
			}
			require.ErrorContains(t, err, "processor: api token")
		})
	}
}
