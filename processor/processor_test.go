package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// clusters returns the Kafka clusters the integration tests run against:
// an in-process kfake broker always, and the real broker of
// SESSIONREC_BROKERS when set (make test sets it).
func clusters(t *testing.T) map[string][]string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	out := map[string][]string{"kfake": c.ListenAddrs()}
	if b := os.Getenv("SESSIONREC_BROKERS"); b != "" {
		out["real"] = strings.Split(b, ",")
	}
	return out
}

func uniqueNames(t *testing.T) topics.Names {
	sfx := fmt.Sprintf("-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.Uint32())
	return topics.DefaultNames().WithSuffix(sfx)
}

// newTopics creates topics of their own for a test, with partitions
// partitions, and returns their names and an admin client closed with the
// test.
func newTopics(t *testing.T, brokers []string, partitions int32) (topics.Names, *topics.Admin) {
	t.Helper()
	names := uniqueNames(t)
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	t.Cleanup(adm.Close)
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: partitions}))
	return names, adm
}

// eventMessage is the record of a synthetic shop's event, a click or a
// purchase (quantity 1), keyed by its user and stamped with its time.
func eventMessage(t *testing.T, names topics.Names, e synth.Event) kafka.Message {
	t.Helper()
	ev := topics.Event{Kind: topics.KindClick, UserID: e.UserID, ItemID: e.ItemID, Time: e.Time}
	topic := names.Clicks
	if e.Purchase {
		ev.Kind, ev.Quantity, topic = topics.KindPurchase, 1, names.Purchases
	}
	v, err := ev.Encode()
	require.NoError(t, err)
	return kafka.Message{Topic: string(topic), Key: []byte(e.UserID), Value: v, Time: e.Time}
}

// eventProducer returns a function that writes synthetic shop events to
// names' clicks and purchases (eventMessage) and waits for the brokers'
// acknowledgements; its writer closes with the test.
func eventProducer(t *testing.T, brokers []string, names topics.Names) func([]synth.Event) {
	t.Helper()
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return func(evs []synth.Event) {
		t.Helper()
		msgs := make([]kafka.Message, 0, len(evs))
		for _, e := range evs {
			msgs = append(msgs, eventMessage(t, names, e))
		}
		require.NoError(t, w.WriteMessages(t.Context(), msgs...))
	}
}

// readAll reads every partition of a topic from the start until done says
// so or the timeout passes.
func readAll(t *testing.T, brokers []string, topic topics.Topic, partitions int, timeout time.Duration, done func([]kafka.Message) bool) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var mu sync.Mutex
	var msgs []kafka.Message
	var wg sync.WaitGroup
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(topic), Partition: p, MaxWait: 500 * time.Millisecond})
		wg.Go(func() {
			defer func() { _ = r.Close() }() // a reader cut off by the test's deadline
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				mu.Lock()
				msgs = append(msgs, m)
				if done(msgs) {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return msgs
}

// testInstance is a processor run by a test over a store in dir: started
// and ready when startInstance returns; stop ends Run (which must return
// nil) and closes the store, so that a later start on the same dir is a
// restart.
type testInstance struct {
	p    *Processor
	reg  *prometheus.Registry
	stop func()
}

// startInstance runs a processor with cfg (its Brokers, Names, Group,
// Metrics and Logger filled in for the test when empty) over a store in
// dir; before Run, setup may set a model.
func startInstance(t *testing.T, brokers []string, names topics.Names, dir string, cfg Config, setup func(*Processor)) testInstance {
	t.Helper()
	db, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	cfg.Brokers, cfg.Names = brokers, names
	if cfg.Group == "" {
		cfg.Group = "g" + string(names.Clicks)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.IdleAdvance, cfg.Metrics = -1, NewMetrics(reg)
	p, err := New(cfg, db)
	require.NoError(t, err)
	if setup != nil {
		setup(p)
	}
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	waitReady(t, p, runErr)
	return testInstance{p: p, reg: reg, stop: func() {
		cancel()
		require.NoError(t, <-runErr)
		require.NoError(t, db.Close())
	}}
}

// waitReady waits until the processor has joined its group, failing the
// test if Run returns first.
func waitReady(t *testing.T, p *Processor, runErr <-chan error) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for !p.Ready() {
		select {
		case err := <-runErr:
			t.Fatalf("Run returned before joining the group: %v", err)
		case <-deadline:
			t.Fatal("the processor did not join the group within 60s")
		case <-tick.C:
		}
	}
}

func TestProcessorEndToEnd(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testEndToEnd(t, brokers) })
	}
}

func testEndToEnd(t *testing.T, brokers []string) {
	names := uniqueNames(t)
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: 2}))

	db, err := store.Open(t.TempDir(), store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	eng, err := testEngine()
	require.NoError(t, err)
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	p, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Brokers: brokers, Group: "g" + string(names.Clicks), Names: names, IdleAdvance: -1,
		SessionTimeout: 6 * time.Second, Metrics: NewMetrics(reg), LagInterval: 50 * time.Millisecond}, db)
	require.NoError(t, err)
	p.SetEngine(eng)
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	waitReady(t, p, runErr)

	// Produce ten users' sessions and one malformed record.
	shop := synth.NewShop(1)
	sessions := shop.Sessions(2, synth.SessionConfig{Users: 10, Sessions: 20})
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer func() { require.NoError(t, w.Close()) }()
	want := map[string]uint64{}
	var msgs []kafka.Message
	for _, e := range synth.Stream(sessions) {
		msgs = append(msgs, eventMessage(t, names, e))
		want[e.UserID]++
	}
	// One record of every kind of bad input, after the stream: each must
	// reach the dead-letter topic with its reason, and the partitions go on.
	last := msgs[len(msgs)-1].Time
	first := msgs[0].Time
	item := shop.Items[0].ID
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	bad := []struct {
		topic  topics.Topic
		key    string
		value  string
		reason string
	}{
		{names.Clicks, "user-0001", "{not json", topics.ReasonMalformed},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","ts":"` + ts(last) + `"}`, topics.ReasonMissingField},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","colour":"red"}`, topics.ReasonUnknownField},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"no-such-item","ts":"` + ts(last) + `"}`, topics.ReasonUnknownItem},
		{names.Clicks, "user-0001", `{"user_id":"user-0002","item_id":"` + item + `","ts":"` + ts(last) + `"}`, topics.ReasonInvalidField},
		{names.Clicks, "", `{"user_id":"","item_id":"` + item + `","ts":"` + ts(last) + `"}`, topics.ReasonInvalidField},
		{names.Clicks, strings.Repeat("u", 300), `{"user_id":"` + strings.Repeat("u", 300) + `","item_id":"` + item + `","ts":"` + ts(last) + `"}`, topics.ReasonInvalidField},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"1999-12-31T23:59:59Z"}`, topics.ReasonTimestamp},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"` + ts(time.Now().Add(48*time.Hour)) + `"}`, topics.ReasonTimestamp},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","session_id":"` + strings.Repeat("s", 70<<10) + `"}`, topics.ReasonTooLarge},
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"` + ts(first) + `"}`, topics.ReasonLate},
		{names.Purchases, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"` + ts(last) + `","quantity":0}`, topics.ReasonInvalidField},
		{names.Purchases, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"` + ts(last) + `","price":-1}`, topics.ReasonInvalidField},
		{names.Purchases, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"` + ts(last) + `","price":1e999}`, topics.ReasonInvalidField},
		// A producer clock ten minutes fast: refused, and it does not move
		// the watermark (the good event after it would be late).
		{names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"` + item + `","ts":"` + ts(time.Now().Add(10*time.Minute)) + `"}`, topics.ReasonTimestamp},
		// A 2 MiB key, compressed past the broker's limit: its dead letter
		// carries the key's hash.
		{names.Clicks, strings.Repeat("k", 2<<20), `{"user_id":"user-0001","item_id":"` + item + `"}`, topics.ReasonInvalidField},
	}
	wantDead := map[string]int{}
	for _, b := range bad {
		msgs = append(msgs, kafka.Message{Topic: string(b.topic), Key: []byte(b.key), Value: []byte(b.value), Time: last})
		wantDead[b.topic.String()+" "+b.reason]++
	}
	// And a good event after them: the partition kept going.
	{
		ev := topics.Event{Kind: topics.KindClick, UserID: "user-0001", ItemID: item, Time: last}
		v, err := ev.Encode()
		require.NoError(t, err)
		msgs = append(msgs, kafka.Message{Topic: string(names.Clicks), Key: []byte("user-0001"), Value: v, Time: last})
		want["user-0001"]++
	}
	// As a shop does: each event is written when it happens, in event-time
	// order across both topics. (Writing a whole day at once lets one
	// topic's records reach the log minutes of event time after the
	// other's, and they would be late.)
	wz := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll, Compression: kafka.Zstd, BatchBytes: 4 << 20}
	defer func() { require.NoError(t, wz.Close()) }()
	for _, m := range msgs {
		if len(m.Key) > 1<<20 {
			require.NoError(t, wz.WriteMessages(t.Context(), m))
			continue
		}
		require.NoError(t, w.WriteMessages(t.Context(), m))
	}

	// Every user gets a recommendation record; the malformed record is a
	// dead letter.
	recs := readAll(t, brokers, names.Recommendations, 2, 60*time.Second, func(ms []kafka.Message) bool {
		users := map[string]bool{}
		for _, m := range ms {
			users[string(m.Key)] = true
		}
		return len(users) == len(want)
	})
	users := map[string]bool{}
	for _, m := range recs {
		r, err := topics.DecodeRecommendation(m.Value)
		require.NoError(t, err)
		require.Equal(t, string(m.Key), r.UserID)
		require.NotEmpty(t, r.Items)
		require.NotEmpty(t, r.Intents)
		require.Equal(t, eng.Version(), r.ModelVersion)
		users[r.UserID] = true
	}
	require.Len(t, users, len(want), "every user has a recommendation")
	// Every bad record, and nothing else, is a dead letter with its
	// reason, source and original bytes. (Read a little past the count
	// expected, so that an extra one would show.)
	dead := readAll(t, brokers, names.DeadLetters, 2, 5*time.Second, func(ms []kafka.Message) bool { return len(ms) > len(bad) })
	gotDead := map[string]int{}
	values := map[string]bool{}
	hashed := 0
	for _, m := range dead {
		dl, err := topics.DecodeDeadLetter(m.Key, m.Value)
		require.NoError(t, err)
		gotDead[dl.Topic.String()+" "+dl.Reason]++
		values[string(dl.Value)] = true
		require.Equal(t, string(m.Key), string(dl.Key))
		if dl.KeyHashed {
			hashed++
			require.Equal(t, 2<<20, dl.KeySize, "the hashed key's original size")
			require.True(t, strings.HasPrefix(string(m.Key), "sha256:"), "hashed key %.80q", m.Key)
		}
	}
	require.Equal(t, 1, hashed, "dead letters with a hashed key")
	require.Equal(t, wantDead, gotDead, "dead letters by topic and reason")
	require.True(t, values["{not json"], "the original bytes travel with the dead letter")

	// Every event is applied exactly once.
	applied := func() map[string]uint64 {
		got := map[string]uint64{}
		for u := range want {
			for _, part := range []int32{0, 1} {
				if s, err := db.User(part, u); err == nil {
					got[u] += s.Applied
				}
			}
		}
		return got
	}
	deadline := time.Now().Add(60 * time.Second)
	for !maps.Equal(applied(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("events applied per user: got %v, want %v; processor log:\n%s", applied(), want, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The metrics agree: every event counted by its result, the lag of
	// every input partition down to zero, the open sessions those of the
	// store.
	var total uint64
	for _, n := range want {
		total += n
	}
	metric := func(name string, labels map[string]string) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		series:
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
						continue series
					}
				}
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
		return sum
	}
	require.InDelta(t, float64(total), metric("sessionrec_events_total", map[string]string{"result": "applied"}), 0)
	require.InDelta(t, float64(len(bad)-3), metric("sessionrec_events_total", map[string]string{"result": "dead_letter", "topic": string(names.Clicks)}), 0)
	require.InDelta(t, 3, metric("sessionrec_events_total", map[string]string{"result": "dead_letter", "topic": string(names.Purchases)}), 0)
	require.InDelta(t, 1, metric("sessionrec_dead_letters_total", map[string]string{"reason": topics.ReasonMalformed}), 0)
	// One event-to-publish observation per published record.
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var observed uint64
	for _, mf := range mfs {
		if mf.GetName() == "sessionrec_event_to_publish_seconds" {
			observed = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	require.Positive(t, observed)
	require.InDelta(t, metric("sessionrec_recommendations_published_total", nil), float64(observed), 0)
	open := 0
	for _, part := range []int32{0, 1} {
		require.NoError(t, db.Expiring(part, math.MaxInt64, func(string, int64) bool { open++; return true }))
	}
	require.Positive(t, open)
	require.InDelta(t, float64(open), metric("sessionrec_sessions_open", nil), 0)
	lagSeries := func() int {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "sessionrec_lag_records" {
				return len(mf.GetMetric())
			}
		}
		return 0
	}
	require.Eventually(t, func() bool {
		return lagSeries() == 4 && metric("sessionrec_lag_records", nil) == 0
	}, 30*time.Second, 50*time.Millisecond, "lag of both topics' 2 partitions reaches 0")

	// The query API answers for every user from the running processor's
	// state (it owns both partitions).
	srv := httptest.NewServer(p.Handler(reg))
	defer srv.Close()
	for u := range want {
		resp, err := http.Get(srv.URL + "/v1/users/" + u + "/recommendations?k=3")
		require.NoError(t, err)
		var r RecommendationsResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode, u)
		require.Len(t, r.Items, 3, u)
		require.NotEmpty(t, r.Intents, u)
	}

	// A clean shutdown.
	start := time.Now()
	cancel()
	select {
	case err := <-runErr:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	t.Logf("shutdown took %v", time.Since(start))
}

// syncBuffer is a bytes.Buffer safe for the processor's goroutines to log
// into while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
