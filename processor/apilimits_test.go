package processor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/synth"
)

// serveAPI serves the fixture's query API alone with cfg and the hook
// holding (apiLimits.holding) and returns its URL.
func (f *apiFixture) serveAPI(t *testing.T, cfg APIConfig, holding func(context.Context)) string {
	t.Helper()
	h, err := f.p.apiHandler(cfg, holding)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// routes are a path of each query API route, for the fixture's users.
func (f *apiFixture) routes() []string {
	return []string{
		"/v1/users/" + f.cat + "/recommendations",
		"/v1/users/" + f.cat + "/session",
		"/v1/items/" + f.shop.Items[0].ID + "/similar",
	}
}

// requestsByStatus sums sessionrec_http_requests_total by status.
func requestsByStatus(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "sessionrec_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "status" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// With every slot held by a request in flight, a further request on any
// route answers 429 with Retry-After at once; once the held requests are
// done, their slots serve again.
func TestAPITooManyInFlight(t *testing.T) {
	f := newAPIFixture(t)
	const slots = 2
	held := make(chan struct{}, 16)
	release := make(chan struct{})
	url := f.serveAPI(t, APIConfig{MaxInFlight: slots}, func(context.Context) {
		held <- struct{}{}
		<-release
	})
	type answer struct {
		status int
		err    error
	}
	answers := make(chan answer, slots)
	for range slots {
		go func() {
			resp, err := http.Get(url + f.routes()[0])
			if err != nil {
				answers <- answer{err: err}
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			answers <- answer{resp.StatusCode, err}
			_ = resp.Body.Close()
		}()
	}
	for range slots {
		<-held
	}

	for _, path := range f.routes() {
		var e errorResponse
		status, h := getJSON(t, url+path, &e)
		if status != http.StatusTooManyRequests || h.Get("Retry-After") != "1" {
			t.Errorf("%s with every slot held: got %d, Retry-After %q, want 429, Retry-After 1", path, status, h.Get("Retry-After"))
		}
		require.Contains(t, e.Error, "too many requests: 2 in flight")
	}

	close(release)
	for range slots {
		a := <-answers
		require.NoError(t, a.err)
		require.Equal(t, http.StatusOK, a.status, "a held request")
	}
	status, _ := getJSON(t, url+f.routes()[0], nil)
	require.Equal(t, http.StatusOK, status, "the slots are given back")
	got := requestsByStatus(t, f.reg)
	require.Equal(t, map[string]float64{"200": slots + 1, "429": 3}, got, "requests counted by status")
}

// countIndex counts the searches of the index it wraps.
type countIndex struct {
	model.Index
	searches *atomic.Int32
}

func (x countIndex) Search(q []float32, k int, accept func(int32) bool, dst []model.Hit) []model.Hit {
	x.searches.Add(1)
	return x.Index.Search(q, k, accept, dst)
}

// countingEngine is testEngine's model and items over an index that
// counts its searches in searches.
func countingEngine(t *testing.T, searches *atomic.Int32) *Engine {
	t.Helper()
	m, err := testModel()
	require.NoError(t, err)
	e, err := NewEngine(m, testItems(synth.NewShop(1)), func(dim int, v []float32) (model.Index, error) {
		x, err := model.NewExactIndex(dim, v)
		return countIndex{x, searches}, err
	}, model.IntentConfig{}, Knobs{K: 5})
	require.NoError(t, err)
	return e
}

// A request whose deadline passes before its answer is ready answers 503,
// on every route, and a ranking whose deadline has passed does not search.
func TestAPIDeadline(t *testing.T) {
	f := newAPIFixture(t)
	var searches atomic.Int32
	f.p.SetEngine(countingEngine(t, &searches))
	// Every request waits, in its slot, for its deadline to pass.
	late := f.serveAPI(t, APIConfig{Timeout: time.Millisecond}, func(ctx context.Context) { <-ctx.Done() })
	for _, path := range f.routes() {
		t.Run(path, func(t *testing.T) {
			var e errorResponse
			status, _ := getJSON(t, late+path, &e)
			require.Equal(t, http.StatusServiceUnavailable, status, e.Error)
			require.Contains(t, e.Error, "deadline: the answer was not ready within 1ms")
		})
	}
	require.Zero(t, searches.Load(), "searches past the deadline")

	// The same requests in time: the searches are counted.
	inTime := f.serveAPI(t, APIConfig{}, nil)
	for _, path := range f.routes() {
		status, _ := getJSON(t, inTime+path, nil)
		require.Equal(t, http.StatusOK, status, path)
	}
	require.Positive(t, searches.Load(), "searches in time")
}

// A ranking that asks for more work than the cap (k times the candidates
// per intent, with diversity) answers 400 naming k and the cap; without
// diversity any k is served.
func TestAPIWorkCap(t *testing.T) {
	f := newAPIFixture(t)
	for _, tc := range []struct {
		name    string
		maxWork int
		query   string
		status  int
		msg     string
	}{
		{"k 50 with diversity: at the default cap", 0, "k=50&diversity=1", 200, ""},
		{"k 51 with diversity: over it", 0, "k=51&diversity=0.1", 400,
			`parameter k: want at most 50 with diversity > 0 (the work cap 7500: k × max(3k, k+20) candidates per intent), got "51"`},
		{"k 1000 with diversity", 0, "k=1000&diversity=1", 400, "the work cap 7500"},
		{"k 1000 without diversity", 0, "k=1000&diversity=0", 200, ""},
		{"k 5 with diversity: at a cap of 125", 125, "k=5&diversity=0.5", 200, ""},
		{"k 6 with diversity: over it", 125, "k=6&diversity=0.5", 400, "want at most 5 with diversity > 0 (the work cap 125:"},
		{"the default k 5 with diversity: over a cap of 100", 100, "diversity=0.5", 400, `got "5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := f.serveAPI(t, APIConfig{MaxWork: tc.maxWork}, nil)
			var e errorResponse
			status, _ := getJSON(t, url+f.routes()[0]+"?"+tc.query, &e)
			if status != tc.status {
				t.Fatalf("got %d (%s), want %d", status, e.Error, tc.status)
			}
			require.Contains(t, e.Error, tc.msg)
		})
	}
}

func TestAPIConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     APIConfig
		want    APIConfig
		wantErr string
	}{
		{"zero: the defaults", APIConfig{}, DefaultAPIConfig(), ""},
		{"set", APIConfig{MaxInFlight: 4, Workers: 3, WorkerShare: 0.25, Timeout: time.Second, MaxWork: 10}, APIConfig{MaxInFlight: 4, Workers: 3, WorkerShare: 0.25, Timeout: time.Second, MaxWork: 10}, ""},
		{"share over 1", APIConfig{WorkerShare: 1.5}, APIConfig{}, "processor: api worker share 1.5"},
		{"negative workers", APIConfig{Workers: -1}, APIConfig{}, "processor: api workers -1"},
		{"negative in flight", APIConfig{MaxInFlight: -1}, APIConfig{}, "processor: api max in-flight -1"},
		{"negative timeout", APIConfig{Timeout: -time.Second}, APIConfig{}, "processor: api timeout -1s"},
		{"negative work", APIConfig{MaxWork: -1}, APIConfig{}, "processor: api max work -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg
			err := got.fill()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// OpsHandler and APIHandler serve their own paths only, so that they can
// listen apart; Handler serves both.
func TestOpsAndAPIHandlersApart(t *testing.T) {
	f := newAPIFixture(t)
	ops := httptest.NewServer(f.p.OpsHandler(f.reg))
	t.Cleanup(ops.Close)
	api := f.serveAPI(t, APIConfig{}, nil)
	session := f.routes()[1]
	for _, tc := range []struct {
		name, url string
		status    int
	}{
		{"ops /metrics", ops.URL + "/metrics", 200},
		{"ops /healthz", ops.URL + "/healthz", 200},
		{"ops /readyz, not in a group", ops.URL + "/readyz", 503},
		{"ops, the API", ops.URL + session, 404},
		{"api /metrics", api + "/metrics", 404},
		{"api /healthz", api + "/healthz", 404},
		{"api, the API", api + session, 200},
		{"both /metrics", f.srv.URL + "/metrics", 200},
		{"both /healthz", f.srv.URL + "/healthz", 200},
		{"both, the API", f.srv.URL + session, 200},
		{"both, no route", f.srv.URL + "/v1/nothing", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(tc.url)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			if resp.StatusCode != tc.status {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

// Of the requests in flight, only Workers are worked on at once: the
// others wait for one to finish (within their deadline), so that a flood
// of queries cannot take every core from the partition workers.
func TestAPIWorkers(t *testing.T) {
	l, err := newAPILimits(APIConfig{MaxInFlight: 4, Workers: 1, WorkerShare: 1, Timeout: time.Minute}, nil)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/v1/items/x/similar", nil)
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	firstIn, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := l.admit(req, func(context.Context, *http.Request) (any, error) {
			note("first starts")
			close(firstIn)
			<-release
			note("first ends")
			return nil, nil
		})
		require.NoError(t, err)
	})
	<-firstIn
	wg.Go(func() {
		_, err := l.admit(req, func(context.Context, *http.Request) (any, error) {
			note("second starts")
			return nil, nil
		})
		require.NoError(t, err)
	})
	// Give the second request the time to start, were it not held.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	require.Equal(t, []string{"first starts", "first ends", "second starts"}, order)
}

// A worker with WorkerShare 0.1 rests nine times as long as it worked
// before it takes the next request; the answer itself is not held back.
func TestAPIWorkerShare(t *testing.T) {
	l, err := newAPILimits(APIConfig{MaxInFlight: 4, Workers: 1, WorkerShare: 0.1, Timeout: time.Minute}, nil)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/v1/items/x/similar", nil)
	const work, rest = 50 * time.Millisecond, 450 * time.Millisecond
	var firstEnd time.Time
	_, err = l.admit(req, func(context.Context, *http.Request) (any, error) {
		time.Sleep(work)
		firstEnd = time.Now()
		return nil, nil
	})
	require.NoError(t, err, "the first answer")
	answered := time.Now()
	var secondStart time.Time
	_, err = l.admit(req, func(context.Context, *http.Request) (any, error) {
		secondStart = time.Now()
		return nil, nil
	})
	require.NoError(t, err)
	require.Less(t, answered.Sub(firstEnd), rest, "the first answer waited for the worker's rest")
	require.GreaterOrEqual(t, secondStart.Sub(firstEnd), rest, "the worker's rest before the second request")
}
