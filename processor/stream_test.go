package processor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// sse is one server-sent event as a test client reads it.
type sse struct {
	event string
	data  string
}

// openStream opens GET path on url and returns its events as they come;
// the stream closes with the test.
func openStream(t *testing.T, url string) <-chan sse {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	out := make(chan sse, 100_000)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
		wg.Wait()
	})
	wg.Go(func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sse
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.event != "" {
					out <- cur
				}
				cur = sse{}
			case strings.HasPrefix(line, "event: "):
				cur.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				cur.data = strings.TrimPrefix(line, "data: ")
			}
		}
	})
	return out
}

// await reads events from ch until match has returned true for each of
// want's keys, or fails after timeout.
func await(t *testing.T, ch <-chan sse, timeout time.Duration, match func(sse) string, want ...string) []sse {
	t.Helper()
	left := map[string]bool{}
	for _, w := range want {
		left[w] = true
	}
	var seen []sse
	deadline := time.After(timeout)
	for len(left) > 0 {
		select {
		case e, ok := <-ch:
			require.True(t, ok, "the stream ended; still waiting for %v", left)
			seen = append(seen, e)
			delete(left, match(e))
		case <-deadline:
			t.Fatalf("still waiting for %v after %v; got %d events", left, timeout, len(seen))
		}
	}
	return seen
}

// streamKey names an event for await: its type and user.
func streamKey(e sse) string {
	var v struct {
		UserID string `json:"user_id"`
	}
	if err := json.Unmarshal([]byte(e.data), &v); err != nil {
		return "undecodable " + e.event
	}
	return e.event + " " + v.UserID
}

func TestStream(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testStream(t, brokers) })
	}
}

// A processor on a broker tells its stream's clients what it applies and
// publishes within seconds; a client of one user hears only of that user;
// a subscriber that never reads is dropped and counted while the
// processor and the other clients go on; the recent-users list, the item
// route and the catalogue map answer.
func testStream(t *testing.T, brokers []string) {
	names, _ := newTopics(t, brokers, 2)
	db, err := store.Open(t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	eng, err := testEngine()
	require.NoError(t, err)
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	p, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Brokers: brokers,
		Group: "g" + string(names.Clicks), Names: names, IdleAdvance: -1, SessionTimeout: 6 * time.Second, Metrics: NewMetrics(reg),
		BatchSize: 50}, db)
	require.NoError(t, err)
	p.SetEngine(eng)
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-runErr)
	})
	waitReady(t, p, runErr)
	srv := httptest.NewServer(p.Handler(reg))
	t.Cleanup(srv.Close)
	produce := eventProducer(t, brokers, names)
	shop := synth.NewShop(1)
	food, toy := shop.ByTopic[0], shop.ByTopic[1]

	all := openStream(t, srv.URL+"/v1/stream")
	one := openStream(t, srv.URL+"/v1/stream?user=alice")
	require.Eventually(t, func() bool { return testCounter(t, reg, "sessionrec_stream_clients") == 2 }, 5*time.Second, 10*time.Millisecond)

	now := time.Now().Add(-time.Minute)
	produce([]synth.Event{
		{UserID: "alice", ItemID: shop.Items[food[0]].ID, Time: now},
		{UserID: "bob", ItemID: shop.Items[toy[0]].ID, Time: now},
	})
	seen := await(t, all, 10*time.Second, streamKey, "applied alice", "applied bob", "recommendation alice", "recommendation bob")
	for _, e := range seen {
		switch e.event {
		case "applied":
			var a StreamApplied
			require.NoError(t, json.Unmarshal([]byte(e.data), &a))
			require.Equal(t, "click", a.Kind)
			require.WithinDuration(t, now, a.Time, time.Millisecond)
		case "recommendation":
			r, err := topics.DecodeRecommendation([]byte(e.data))
			require.NoError(t, err, e.data)
			require.NotEmpty(t, r.Intents)
			require.NotEmpty(t, r.Items)
			require.Equal(t, eng.Version(), r.ModelVersion)
		}
	}
	for _, e := range await(t, one, 10*time.Second, streamKey, "applied alice", "recommendation alice") {
		require.NotContains(t, e.data, `"bob"`, "a client of alice's hears only of alice")
	}

	// A purchase is told as one.
	produce([]synth.Event{{UserID: "alice", ItemID: shop.Items[food[1]].ID, Time: now.Add(time.Second), Purchase: true}})
	e := await(t, one, 10*time.Second, streamKey, "applied alice")
	require.Contains(t, e[len(e)-1].data, `"kind":"purchase"`)

	// A subscriber that never reads: the processor goes on, the stalled
	// one is dropped once its buffer is full, and counted.
	stalled, ok := p.out.live().subscribe("")
	require.True(t, ok)
	published := testCounter(t, reg, "sessionrec_recommendations_published_total")
	var burst []synth.Event
	var wantApplied []string
	for u := range 30 {
		user := fmt.Sprintf("burst-%02d", u)
		for i := range 10 {
			burst = append(burst, synth.Event{UserID: user, ItemID: shop.Items[food[i%len(food)]].ID, Time: now.Add(time.Duration(2+i) * time.Second)})
		}
		wantApplied = append(wantApplied, "recommendation "+user)
	}
	start := time.Now()
	produce(burst)
	await(t, all, 20*time.Second, streamKey, wantApplied...)
	require.Eventually(t, func() bool { return testCounter(t, reg, "sessionrec_stream_dropped_total") == 1 }, 10*time.Second, 10*time.Millisecond)
	t.Logf("300 events applied and told in %v with a stalled subscriber", time.Since(start))
	require.Greater(t, testCounter(t, reg, "sessionrec_recommendations_published_total"), published+29)
	n := 0
	for range stalled.ch {
		n++
	}
	require.Equal(t, streamBufferFor(50), n, "the stalled subscriber's buffer, then its channel closed")
	require.InDelta(t, 2, testCounter(t, reg, "sessionrec_stream_clients"), 0, "the two readers stay")
	// And the processor still publishes, and tells the readers.
	produce([]synth.Event{{UserID: "carol", ItemID: shop.Items[toy[1]].ID, Time: now.Add(time.Minute)}})
	await(t, all, 10*time.Second, streamKey, "applied carol", "recommendation carol")

	// The recent users: carol last, with her one event; alice's two.
	var users UsersResponse
	status, _ := getJSON(t, srv.URL+"/v1/users?limit=500", &users)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, users.Users, 33)
	require.Equal(t, "carol", users.Users[0].UserID)
	require.Equal(t, uint64(1), users.Users[0].Events)
	for _, u := range users.Users {
		if u.UserID == "alice" {
			require.Equal(t, uint64(2), u.Events)
			require.WithinDuration(t, now.Add(time.Second), u.LastEvent, time.Millisecond)
		}
	}
	status, _ = getJSON(t, srv.URL+"/v1/users", &users)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, users.Users, 33, "the default limit is 50")
	status, _ = getJSON(t, srv.URL+"/v1/users?limit=2", &users)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, users.Users, 2)
	status, _ = getJSON(t, srv.URL+"/v1/users?limit=501", nil)
	require.Equal(t, http.StatusBadRequest, status)

	// An item's features.
	var item ItemResponse
	want := shop.Items[food[0]]
	status, _ = getJSON(t, srv.URL+"/v1/items/"+want.ID, &item)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, ItemResponse{ItemID: want.ID, Name: want.Name, Category: want.Category, Brand: want.Brand, Price: &want.Price}, item)
	status, _ = getJSON(t, srv.URL+"/v1/items/no-such-item", nil)
	require.Equal(t, http.StatusNotFound, status)

	// The catalogue map: finite places, the included items among them.
	var m EmbeddingResponse
	inc := []string{shop.Items[food[0]].ID, shop.Items[toy[1]].ID}
	require.Eventually(t, func() bool {
		status, _ := getJSON(t, srv.URL+"/v1/embedding?include="+strings.Join(inc, ",")+",no-such-item", &m)
		return status == http.StatusOK // the first asks may find it being computed
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, eng.Version(), m.ModelVersion)
	ids := map[string]int{}
	for _, it := range m.Items {
		require.False(t, math.IsNaN(it.X) || math.IsInf(it.X, 0) || math.IsNaN(it.Y) || math.IsInf(it.Y, 0), "%+v", it)
		ids[it.ItemID]++
	}
	require.Len(t, m.Items, len(shop.Items), "the whole (small) catalogue, each item once")
	for _, id := range inc {
		require.Equal(t, 1, ids[id], id)
	}
	require.Zero(t, ids["no-such-item"])

	// Unknown parameters are refused, as on every route.
	status, _ = getJSON(t, srv.URL+"/v1/stream?users=alice", nil)
	require.Equal(t, http.StatusBadRequest, status)
}

// blockingWriter is a ResponseWriter whose writes wait for release: a
// client that does not read.
type blockingWriter struct {
	header  http.Header
	release chan struct{}
	mu      sync.Mutex
	body    strings.Builder
}

func (w *blockingWriter) Header() http.Header { return w.header }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Flush()              {}
func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.Write(b)
}

// A stream client that falls behind by its buffer is dropped without the
// feed ever waiting for it: its handler, once its writes go through,
// sends what was buffered, then the dropped event, and ends.
func TestStreamDropsASlowClient(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Metrics: NewMetrics(reg), Logger: slog.Default(), Now: time.Now, BatchSize: 10}
	f := newLiveFeed(&cfg)
	w := &blockingWriter{header: http.Header{}, release: make(chan struct{})}
	done := make(chan int, 1)
	go func() {
		done <- f.serveStream(w, httptest.NewRequest(http.MethodGet, "/v1/stream?user=u", nil))
	}()
	require.Eventually(t, func() bool { return f.listening.Load() == 1 }, 5*time.Second, time.Millisecond)

	// Events of another user are not the client's: they fill nothing.
	other := &pending{}
	for range 2 * streamBuffer {
		other.applied = append(other.applied, appliedEvent{user: "v", item: "i", at: time.Now()})
	}
	f.batch(other)
	require.Zero(t, testCounter(t, reg, "sessionrec_stream_dropped_total"))

	pd := &pending{}
	for i := range streamBuffer + 2 { // the handler, blocked on its first write, takes none
		pd.applied = append(pd.applied, appliedEvent{user: "u", item: fmt.Sprint(i), at: time.Now()})
	}
	start := time.Now()
	f.batch(pd)
	require.Less(t, time.Since(start), time.Second, "the feed does not wait for the client")
	require.InDelta(t, 1, testCounter(t, reg, "sessionrec_stream_dropped_total"), 0)
	require.InDelta(t, 0, testCounter(t, reg, "sessionrec_stream_clients"), 0)
	f.batch(pd) // no client: nothing to do
	close(w.release)
	require.Equal(t, http.StatusOK, <-done)
	body := w.body.String()
	require.Equal(t, streamBuffer, strings.Count(body, "event: applied\n"), "the buffered events are sent")
	require.True(t, strings.HasSuffix(body, "event: dropped\ndata: {\"reason\":\"too slow: more than 256 messages waiting\"}\n\n"), body[max(0, len(body)-200):])
	require.Zero(t, f.listening.Load())
}

// The recent users keep the most recently active ones, newest first.
func TestRecentUsers(t *testing.T) {
	u := recentUsers{max: 3}
	at := time.Unix(1000, 0)
	ev := func(user string, s int) appliedEvent {
		return appliedEvent{user: user, at: at.Add(time.Duration(s) * time.Second)}
	}
	u.seen([]appliedEvent{ev("a", 1), ev("b", 2), ev("c", 3), ev("a", 4), ev("d", 5)})
	got := u.list(10)
	require.Equal(t, []ActiveUser{
		{UserID: "d", LastEvent: at.Add(5 * time.Second).UTC(), Events: 1},
		{UserID: "a", LastEvent: at.Add(4 * time.Second).UTC(), Events: 2},
		{UserID: "c", LastEvent: at.Add(3 * time.Second).UTC(), Events: 1},
	}, got, "b, the least recent, is forgotten")
	require.Len(t, u.list(2), 2)
}

var _ io.Writer = (*blockingWriter)(nil)
