package processor

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// A disk that fails under a running processor (Pebble's errorfs failing
// every write to the write-ahead log) stops it loudly: Run returns an error
// wrapping store.ErrFailed, Ready and Healthy turn false, and the store
// error is counted. A processor started again on the same directory, on a
// disk that works, resumes from the last batch committed before the fault:
// every event is applied exactly once.
func TestStoreFailureStopsTheProcessor(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testStoreFailure(t, brokers) })
	}
}

func testStoreFailure(t *testing.T, brokers []string) {
	names, _ := newTopics(t, brokers, 2)

	mem := vfs.NewMem()
	fault := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return errorfs.ErrInjected
		}
		return nil
	})}
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	open := func(fs vfs.FS) *store.DB {
		db, err := store.Open("db", store.Options{FS: fs, OnError: func(kind string, _ error) { metrics.StoreError(kind) }})
		require.NoError(t, err)
		return db
	}
	eng, err := testEngine()
	require.NoError(t, err)
	start := func(db *store.DB, metrics *Metrics) (*Processor, <-chan error, context.CancelFunc) {
		p, err := New(Config{Brokers: brokers, Names: names, Group: "g" + string(names.Clicks), IdleAdvance: -1,
			SessionTimeout: 6 * time.Second, Metrics: metrics, Logger: slog.New(slog.DiscardHandler), BatchSize: 20}, db)
		require.NoError(t, err)
		p.SetEngine(eng)
		ctx, cancel := context.WithCancel(t.Context())
		runErr := make(chan error, 1)
		go func() { runErr <- p.Run(ctx) }()
		waitReady(t, p, runErr)
		return p, runErr, cancel
	}

	shop := synth.NewShop(1)
	events := synth.Stream(shop.Sessions(3, synth.SessionConfig{Users: 20, Sessions: 60}))
	want := map[string]uint64{}
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer func() { require.NoError(t, w.Close()) }()
	send := func(evs []synth.Event) {
		for _, e := range evs {
			require.NoError(t, w.WriteMessages(t.Context(), eventMessage(t, names, e)))
			want[e.UserID]++
		}
	}
	applied := func(db *store.DB) map[string]uint64 {
		got := map[string]uint64{}
		for _, part := range []int32{0, 1} {
			require.NoError(t, db.Users(part, func(id string, s *store.UserState) bool {
				got[id] = s.Applied
				return true
			}))
		}
		return got
	}
	waitApplied := func(db *store.DB) {
		deadline := time.Now().Add(60 * time.Second)
		for !maps.Equal(applied(db), want) {
			require.True(t, time.Now().Before(deadline), "events applied per user: got %v, want %v", applied(db), want)
			time.Sleep(50 * time.Millisecond)
		}
	}

	db := open(errorfs.Wrap(mem, fault))
	p, runErr, cancel := start(db, metrics)
	defer cancel()
	half := len(events) / 2
	send(events[:half])
	waitApplied(db)

	// The disk fails under the running processor.
	fault.On()
	send(events[half:])
	select {
	case err := <-runErr:
		require.ErrorIs(t, err, store.ErrFailed, "Run's error")
	case <-time.After(60 * time.Second):
		t.Fatal("Run still going 60 s after the disk failed")
	}
	require.False(t, p.Ready(), "ready after the store failed")
	require.False(t, p.Healthy(), "healthy after the store failed")
	require.Positive(t, testCounter(t, reg, "sessionrec_store_errors_total"), "store errors counted")
	fault.Off()
	require.ErrorIs(t, db.Close(), store.ErrFailed)

	// Back on a disk that works, as a new process: its files as the
	// failed one left them (the lock of the failed Pebble, which only the
	// process's exit releases, aside). Every event applied exactly once.
	restarted := vfs.NewMem()
	_, err = vfs.Clone(mem, restarted, "db", "db", vfs.CloneSkip(func(path string) bool { return strings.HasSuffix(path, "LOCK") }))
	require.NoError(t, err)
	db = open(restarted)
	defer func() { require.NoError(t, db.Close()) }()
	_, runErr, cancel = start(db, NewMetrics(prometheus.NewRegistry()))
	waitApplied(db)
	cancel()
	require.NoError(t, <-runErr)
}

// testCounter sums the series of a metric in reg.
func testCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// A dead letter the broker refuses for good is never retried forever: it
// is sent again without its original value, and when even that is
// refused, it is logged, counted and dropped; publish returns, and the
// partition goes on.
func TestPublishRefusedDeadLetters(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			names, _ := newTopics(t, brokers, 1)
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			require.NoError(t, err)
			defer cl.Close()
			limit := func(bytes string) {
				rs, err := kadm.NewClient(cl).AlterTopicConfigs(t.Context(),
					[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr(bytes)}}, string(names.DeadLetters))
				require.NoError(t, err)
				for _, r := range rs {
					require.NoError(t, r.Err)
				}
			}
			reg := prometheus.NewRegistry()
			p, err := New(Config{Brokers: brokers, Names: names, Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(reg)}, nil)
			require.NoError(t, err)
			defer func() { require.NoError(t, p.dlq.Close()) }()
			dead := func(offset int64) *pending {
				v := []byte(strings.Repeat("x", 100_000))
				return &pending{dead: []topics.DeadLetter{topics.NewDeadLetter(names.Clicks, 0, offset, []byte("u1"), v, time.Now(),
					&topics.ValidationError{Reason: topics.ReasonTooLarge})}}
			}
			read := func(n int) []topics.DeadLetter {
				msgs := readAll(t, brokers, names.DeadLetters, 1, 20*time.Second, func(ms []kafka.Message) bool { return len(ms) >= n })
				var out []topics.DeadLetter
				for _, m := range msgs {
					d, err := topics.DecodeDeadLetter(m.Key, m.Value)
					require.NoError(t, err)
					out = append(out, d)
				}
				return out
			}

			// Room for a dead letter without its value, not with it.
			limit("4000")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			require.NoError(t, p.out.publish(ctx, dead(7)))
			got := read(1)
			require.Len(t, got, 1)
			require.Equal(t, int64(7), got[0].Offset)
			require.Empty(t, got[0].Value, "the value of the dead letter sent again")
			require.True(t, got[0].Truncated)
			require.Equal(t, 100_000, got[0].ValueSize)
			require.Zero(t, testCounter(t, reg, "sessionrec_records_unwritable_total"))

			// No room even for that: dropped, counted, and publish returns.
			limit("50")
			require.NoError(t, p.out.publish(ctx, dead(8)))
			require.InDelta(t, 1, testCounter(t, reg, "sessionrec_records_unwritable_total"), 0)
			require.Len(t, read(1), 1, "dead letters on the topic")

			// A message the client itself refuses (over its BatchBytes)
			// fails the write before anything is sent: only that one is
			// sent again without its value, the others as they were.
			limit("1000000")
			p.dlq.BatchBytes = 20_000
			small := topics.NewDeadLetter(names.Clicks, 0, 9, []byte("u2"), []byte("{"), time.Now(), &topics.ValidationError{Reason: topics.ReasonMalformed})
			pd := dead(10)
			pd.dead = append([]topics.DeadLetter{small}, pd.dead...)
			require.NoError(t, p.out.publish(ctx, pd))
			got = read(3)
			require.Len(t, got, 3)
			byOffset := map[int64]topics.DeadLetter{}
			for _, d := range got {
				byOffset[d.Offset] = d
			}
			require.Equal(t, "{", string(byOffset[9].Value), "the small dead letter keeps its value")
			require.Empty(t, byOffset[10].Value, "the one over the client's limit goes without")
			require.True(t, byOffset[10].Truncated)
		})
	}
}

// When the brokers are gone for good, the processor rides through for
// BrokerTimeout, not ready meanwhile, and then Run returns
// ErrBrokersUnreachable, for an orchestrator to restart it.
func TestBrokerTimeoutEndsRun(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	brokers := c.ListenAddrs()
	names, _ := newTopics(t, brokers, 1)
	db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	p, err := New(Config{Brokers: brokers, Names: names, Group: "g" + string(names.Clicks), IdleAdvance: -1,
		SessionTimeout: 6 * time.Second, LagInterval: 100 * time.Millisecond, BrokerTimeout: 3 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}, db)
	require.NoError(t, err)
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(t.Context()) }()
	waitReady(t, p, runErr)
	require.True(t, p.Healthy())

	c.Close()
	select {
	case err := <-runErr:
		require.ErrorIs(t, err, ErrBrokersUnreachable)
	case <-time.After(90 * time.Second):
		t.Fatal("Run still going 90 s after the brokers went away, with a 3 s broker timeout")
	}
	require.False(t, p.Ready(), "ready without brokers")
	require.False(t, p.Healthy(), "healthy past the broker timeout")
}
