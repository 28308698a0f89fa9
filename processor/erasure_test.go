package processor

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// TestErasure forgets a user through the erasures topic, on kfake and on
// the real broker: nothing of the user is left in the store (every key
// and value scanned), the latest record of the user on the changelog and
// on the recommendations topic is a tombstone, the query API answers 404,
// a restore from the changelog alone brings nothing of the user back,
// and a later event of the user starts from nothing.
func TestErasure(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testErasure(t, brokers) })
	}
}

func testErasure(t *testing.T, brokers []string) {
	names, _ := newTopics(t, brokers, 2)
	eng, err := testEngine()
	require.NoError(t, err)
	setup := func(p *Processor) { p.SetEngine(eng) }
	group := "g" + string(names.Clicks)
	inst := startInstance(t, brokers, names, t.TempDir(), Config{Group: group}, setup)

	// The victim and a bystander, each with two sessions (so past
	// intents too), written as the shop's events are.
	const victim, other = "victim-7f3a", "bystander-c2"
	shop := synth.NewShop(1)
	base := time.Now().Add(-4 * time.Hour).Truncate(time.Millisecond)
	var evs []synth.Event
	for i, user := range []string{victim, other} {
		for s := range 2 {
			for k := range 3 {
				item := shop.Items[shop.ByTopic[(i+s)%len(shop.ByTopic)][k]].ID
				evs = append(evs, synth.Event{UserID: user, ItemID: item, Time: base.Add(time.Duration(s)*time.Hour + time.Duration(k)*time.Minute)})
			}
		}
	}
	evs = synth.Stream([][]synth.Event{evs[:6], evs[6:]})
	produce := eventProducer(t, brokers, names)
	produce(evs)
	waitFor(t, 30*time.Second, "both users' states", func() bool {
		_, err1 := inst.p.db.User(partitionOf(victim), victim)
		s, err2 := inst.p.db.User(partitionOf(other), other)
		return err1 == nil && err2 == nil && s.Applied == 6
	})
	latest := latestByKey(t, brokers, names.Recommendations, 2, func(m map[string][]byte) bool { return m[victim] != nil && m[other] != nil })
	require.NotNil(t, latest[victim], "the victim's recommendations were published")

	// Forget the victim.
	prod := topics.NewProducer(brokers, names)
	require.NoError(t, prod.Forget(t.Context(), time.Now(), victim))
	require.NoError(t, prod.Close())
	waitFor(t, 30*time.Second, "the erasure applied", func() bool {
		return counterValues(t, inst.reg, "sessionrec_users_erased_total")[""] == 1
	})

	noneInStore := func(db *store.DB) {
		t.Helper()
		require.NoError(t, db.Scan(func(k, v []byte) bool {
			require.False(t, bytes.Contains(k, []byte(victim)), "a key of the victim is left in the store: %q", k)
			require.False(t, bytes.Contains(v, []byte(victim)), "a value naming the victim is left in the store under %q", k)
			return true
		}))
		_, err := db.User(partitionOf(other), other)
		require.NoError(t, err, "the bystander is kept")
	}
	noneInStore(inst.p.db)
	h := inst.p.Handler(inst.reg)
	for _, path := range []string{"/v1/users/" + victim + "/recommendations", "/v1/users/" + victim + "/session"} {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, path, nil))
		require.Equal(t, http.StatusNotFound, rr.Code, "%s: %s", path, rr.Body)
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/v1/users/"+other+"/recommendations", nil))
	require.Equal(t, http.StatusOK, rr.Code, "%s", rr.Body)

	// The latest records of both topics: a tombstone for the victim, and
	// no other record naming it.
	for _, topic := range []topics.Topic{names.Recommendations, topics.Changelog(group)} {
		// Nothing of the victim is written after the erasure (its next
		// event comes later), so a tombstone read is its latest record.
		latest := latestByKey(t, brokers, topic, 2, func(m map[string][]byte) bool {
			v, ok := m[victim]
			return ok && v == nil && m[other] != nil
		})
		v, ok := latest[victim]
		require.True(t, ok && v == nil, "%s: the victim's latest record is not a tombstone: %q", topic, v)
		for k, v := range latest {
			if k != victim {
				require.False(t, bytes.Contains(v, []byte(victim)), "%s: the latest record of %q names the victim", topic, k)
			}
		}
		require.NotNil(t, latest[other], "%s: the bystander's record is kept", topic)
	}

	// A new instance on an empty store restores from the changelog alone:
	// nothing of the victim comes back, and the erasure is not read again
	// (its offset is in the checkpoint).
	inst.stop()
	inst = startInstance(t, brokers, names, t.TempDir(), Config{Group: group}, setup)
	defer inst.stop()
	noneInStore(inst.p.db)
	cp, err := inst.p.db.Checkpoint(partitionOf(victim))
	require.NoError(t, err)
	require.Equal(t, int64(1), cp.Offsets[string(names.Erasures)])

	// The victim comes back: a session from nothing.
	item := shop.Items[shop.ByTopic[3][0]].ID
	produce([]synth.Event{{UserID: victim, ItemID: item, Time: time.Now().Truncate(time.Millisecond)}})
	var s *store.UserState
	waitFor(t, 30*time.Second, "the victim's new state", func() bool {
		s, err = inst.p.db.User(partitionOf(victim), victim)
		return err == nil
	})
	require.Equal(t, uint64(1), s.Applied)
	require.Len(t, s.Events, 1)
	require.Equal(t, item, s.Events[0].ItemID)
	require.Empty(t, s.Past, "no intent of before the erasure")
	require.Zero(t, s.Sessions)
}

// partitionOf is the partition of a user's records among the test's two,
// as the producers (and the query API, murmur2) place them.
func partitionOf(user string) int32 {
	return int32(murmur2.Balance(kafka.Message{Key: []byte(user)}, 0, 1))
}

// waitFor polls cond every 20ms until it holds, failing the test after
// timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// latestByKey reads every partition of a compacted topic from the
// start, committed records only (the changelog is transactional), and
// returns the latest value of each key (nil for a tombstone), once done
// holds of them or after 20 s.
func latestByKey(t *testing.T, brokers []string, topic topics.Topic, partitions int, done func(map[string][]byte) bool) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	latest := map[string][]byte{}
	var wg sync.WaitGroup
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(topic), Partition: p, MaxWait: 200 * time.Millisecond,
			IsolationLevel: kafka.ReadCommitted})
		wg.Go(func() {
			defer func() { _ = r.Close() }()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("read %s/%d: %v", topic, p, err)
					}
					return
				}
				mu.Lock()
				latest[string(m.Key)] = m.Value
				if done(latest) {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return latest
}
