package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

// scalePartitions is the input partitions of the scale-out test's topics.
const scalePartitions = 6

// TestScaleOut runs `sessionrec run` as three instances of one consumer
// group against the real broker, feeding the diginetica stream a slice at
// a time while the group changes under it: one instance, then a second
// and a third join; one stops with SIGTERM; one is killed with SIGKILL and
// starts again on a fresh data directory (its disk lost); then every
// instance is restarted in turn (a rolling restart), which must move no
// partition for good. At the end, the state of every user, read from the
// store of its partition's last owner, equals the state of a single
// instance that read the same stream alone (events applied, sessions
// closed, open events, past intents), and every user's last
// recommendation names the same intents as that instance's.
func TestScaleOut(t *testing.T) {
	b := os.Getenv("SESSIONREC_BROKERS")
	require.NotEmpty(t, b, "SESSIONREC_BROKERS is not set: this test needs the real broker (make test starts one)")
	brokers := brokerList(b)
	bin := buildBinary(t)
	d, err := dataset.Load(dataDirForTest(t), dataset.Diginetica)
	require.NoError(t, err)
	events := datasetEvents(d, false)
	modelPath, _ := trainTestModel(t)

	sfx := fmt.Sprintf("-scale-%d", rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	group, refGroup := "sessionrec"+sfx, "reference"+sfx
	refRecs := topics.Topic(string(names.Recommendations) + "-reference")
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: scalePartitions}))
	refNames := names
	refNames.Recommendations = refRecs
	require.NoError(t, adm.Create(t.Context(), refNames, topics.TopicConfig{Partitions: scalePartitions}))

	logs := &lockedLogs{}
	instance := func(name, group string, recs topics.Topic) *faultInstance {
		n := names
		n.Recommendations = recs
		return groupInstance(t, bin, logs, brokers, group, n, name, "--model", modelPath)
	}
	byName := map[string]*faultInstance{}
	for _, n := range []string{"a", "b", "c"} {
		byName[n] = instance(n, group, names.Recommendations)
	}
	a, b2, c := byName["a"], byName["b"], byName["c"]
	running := map[*faultInstance]bool{}
	start := func(f *faultInstance) {
		f.start()
		running[f] = true
		f.ready(2 * time.Minute)
	}
	stop := func(f *faultInstance) {
		f.stop()
		delete(running, f)
	}
	settled := func() map[int32]string {
		t.Helper()
		return groupSettled(t, adm, group, names.Clicks, scalePartitions, slices.Collect(maps.Keys(running))...)
	}
	const feeds = 6
	next := 0
	feed := func() {
		t.Helper()
		from, to := next*len(events)/feeds, (next+1)*len(events)/feeds
		next++
		prod := topics.NewProducer(brokers, names)
		_, err := topics.Replay(t.Context(), prod, events[from:to], topics.ReplayConfig{})
		require.NoError(t, err)
		require.NoError(t, prod.Close())
	}
	caughtUp := func() {
		t.Helper()
		a.caughtUp(adm, group, names, 3*time.Minute)
	}

	// One instance, then a second and a third.
	feed()
	start(a)
	caughtUp()
	start(b2)
	settled()
	feed()
	caughtUp()
	start(c)
	settled()
	feed()
	caughtUp()
	// b stops with SIGTERM; its partitions move to a and c.
	stop(b2)
	settled()
	feed()
	caughtUp()
	// c is killed and its disk lost: it starts on a fresh data dir.
	require.NoError(t, c.cmd.Process.Kill())
	<-c.exited
	delete(running, c)
	require.NoError(t, os.RemoveAll(c.dataDir()))
	feed()
	start(c)
	settled()
	caughtUp()
	// A rolling restart, b back first: no partition moves for good, and
	// none of an instance that stays moves while another restarts.
	start(b2)
	before := settled()
	feed()
	for _, f := range []*faultInstance{a, b2, c} {
		stop(f)
		during := settled()
		for p, owner := range before {
			if owner != f.api {
				require.Equal(t, owner, during[p], "partition %d moved off %s while %s restarted", p, owner, f.api)
			}
		}
		start(f)
		require.Equal(t, before, settled(), "after %s restarted", f.api)
	}
	caughtUp()
	for f := range maps.Clone(running) {
		stop(f)
	}

	// The reference: one instance alone over the whole stream.
	ref := instance("reference", refGroup, refRecs)
	start(ref)
	ref.caughtUp(adm, refGroup, names, 3*time.Minute)
	stop(ref)

	// Each partition's state from the store of its last owner: the one
	// whose changelog position is the furthest.
	got := map[string]*store.UserState{}
	for p := range int32(scalePartitions) {
		var best *store.DB
		var bestPos int64 = -1
		for _, f := range []*faultInstance{a, b2, c} {
			db, err := store.Open(f.dataDir(), store.Options{})
			require.NoError(t, err)
			cp, err := db.Checkpoint(p)
			if err == nil && cp.Changelog > bestPos {
				if best != nil {
					require.NoError(t, best.Close())
				}
				best, bestPos = db, cp.Changelog
				continue
			}
			require.NoError(t, db.Close())
		}
		require.NotNil(t, best, "no store holds partition %d", p)
		require.NoError(t, best.Users(p, func(id string, s *store.UserState) bool {
			got[id] = s
			return true
		}))
		require.NoError(t, best.Close())
	}
	want := map[string]*store.UserState{}
	refDB, err := store.Open(ref.dataDir(), store.Options{})
	require.NoError(t, err)
	for p := range int32(scalePartitions) {
		require.NoError(t, refDB.Users(p, func(id string, s *store.UserState) bool {
			want[id] = s
			return true
		}))
	}
	require.NoError(t, refDB.Close())
	require.NotEmpty(t, want)
	require.Equal(t, len(want), len(got), "users")
	for id, w := range want {
		g, ok := got[id]
		require.True(t, ok, "user %s missing", id)
		require.Equal(t, w.Applied, g.Applied, "user %s: events applied", id)
		require.Equal(t, w.Sessions, g.Sessions, "user %s: sessions closed", id)
		require.Equal(t, sortedEvents(w.Events), sortedEvents(g.Events), "user %s: open events", id)
		require.Equal(t, intentItems(w.Past), intentItems(g.Past), "user %s: past intents", id)
	}

	// Every user's last recommendation names the reference's intents.
	last := lastRecommendations(t, brokers, adm, names.Recommendations)
	refLast := lastRecommendations(t, brokers, adm, refRecs)
	require.NotEmpty(t, refLast)
	require.Equal(t, len(refLast), len(last), "users with a recommendation")
	for id, w := range refLast {
		require.Equal(t, w, last[id], "user %s: intents of the last recommendation", id)
	}
	t.Logf("%d events, %d users, %d with recommendations", len(events), len(want), len(refLast))
}

// intentItems lists each intent's ID and items.
func intentItems(past []store.PastIntent) []string {
	var out []string
	for _, in := range past {
		out = append(out, in.ID+":"+strings.Join(in.Items, ","))
	}
	return out
}

// lastRecommendations reads a recommendations topic whole and returns
// each user's last record's intents (ID and items).
func lastRecommendations(t *testing.T, brokers []string, adm *topics.Admin, topic topics.Topic) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ends, err := adm.EndOffsets(ctx, topic)
	require.NoError(t, err)
	out := map[string][]string{}
	for part, end := range ends {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(topic), Partition: int(part), MaxWait: 500 * time.Millisecond})
		for off := int64(0); off < end; {
			msg, err := r.ReadMessage(ctx)
			require.NoError(t, err)
			off = msg.Offset + 1
			var rec topics.Recommendation
			require.NoError(t, json.Unmarshal(msg.Value, &rec))
			var intents []string
			for _, in := range rec.Intents {
				intents = append(intents, in.ID+":"+strings.Join(in.Items, ","))
			}
			out[rec.UserID] = intents
		}
		require.NoError(t, r.Close())
	}
	return out
}

// TestHandOverNineEvents is the hand-over seen from a client: 40 users
// send 3 clicks each to instance a; b joins; 3 more clicks each; a is
// killed with SIGKILL; 3 more each. Every user has then applied exactly 9
// events, as the query API of whichever instance owns the user says (an
// instance asked about another's user answers 421 naming the owner).
func TestHandOverNineEvents(t *testing.T) {
	b := os.Getenv("SESSIONREC_BROKERS")
	require.NotEmpty(t, b, "SESSIONREC_BROKERS is not set: this test needs the real broker (make test starts one)")
	brokers := brokerList(b)
	bin := buildBinary(t)
	modelPath, known := trainTestModel(t)
	items := slices.Sorted(maps.Keys(known))[:10]

	sfx := fmt.Sprintf("-handover-%d", rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	group := "sessionrec" + sfx
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: 4}))
	logs := &lockedLogs{}
	instance := func(name string) *faultInstance {
		return groupInstance(t, bin, logs, brokers, group, names, name, "--model", modelPath)
	}
	users := make([]string, 40)
	for i := range users {
		users[i] = fmt.Sprintf("handover-user-%02d", i)
	}
	// Event times a second apart within one session, in the past.
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
	round := 0
	clicks := func() {
		t.Helper()
		var evs []topics.Event
		for k := range 3 {
			for i, u := range users {
				at := t0.Add(time.Duration(round*3+k)*time.Second + time.Duration(i)*time.Millisecond)
				evs = append(evs, topics.Event{Kind: topics.KindClick, UserID: u, ItemID: items[(i+k)%len(items)], Time: at})
			}
		}
		round++
		prod := topics.NewProducer(brokers, names)
		_, err := topics.Replay(t.Context(), prod, evs, topics.ReplayConfig{})
		require.NoError(t, err)
		require.NoError(t, prod.Close())
	}
	// applied asks api for a user's events applied, following a 421 to
	// the owner.
	applied := func(api, user string) (uint64, bool) {
		for range 3 {
			code, body := httpGet(api, "/v1/users/"+user+"/session", 2*time.Second)
			switch code {
			case 200:
				var s struct {
					Applied uint64 `json:"applied"`
				}
				require.NoError(t, json.Unmarshal([]byte(body), &s))
				return s.Applied, true
			case 421:
				var e struct {
					Owner string `json:"owner"`
				}
				require.NoError(t, json.Unmarshal([]byte(body), &e))
				if e.Owner == "" {
					return 0, false
				}
				api = e.Owner
			default:
				return 0, false
			}
		}
		return 0, false
	}
	// every waits until every user has applied want, asked of api.
	every := func(api string, want uint64) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			wrong := 0
			var example string
			for _, u := range users {
				if n, ok := applied(api, u); !ok || n != want {
					wrong++
					example = fmt.Sprintf("%s: %d (answered %v)", u, n, ok)
				}
			}
			if wrong == 0 {
				return
			}
			require.True(t, time.Now().Before(deadline), "%d users have not applied %d events, e.g. %s; logs:\n%s", wrong, want, example, logs.String())
			time.Sleep(200 * time.Millisecond)
		}
	}

	a, bi := instance("a"), instance("b")
	a.start()
	a.ready(2 * time.Minute)
	clicks()
	every(a.api, 3)
	bi.start()
	bi.ready(2 * time.Minute)
	// Wait until b owns partitions: the group has two members.
	groupSettled(t, adm, group, names.Clicks, 4, a, bi)
	clicks()
	every(a.api, 6)
	every(bi.api, 6)
	a.kill()
	clicks()
	every(bi.api, 9)
	bi.stop()
}

// groupInstance is a `sessionrec run` of consumer group group over the
// topics names, with a data dir of its own (name) and its query API on a
// free loopback port; idle advance is off, the session timeout 6 s, and
// extra are more flags.
func groupInstance(t testing.TB, bin string, logs *lockedLogs, brokers []string, group string, names topics.Names, name string, extra ...string) *faultInstance {
	api := freePort(t)
	args := []string{"run", "--brokers", strings.Join(brokers, ","), "--group", group,
		"--data-dir", filepath.Join(t.TempDir(), name), "--http", api, "--idle-advance", "-1s", "--session-timeout", "6s",
		"--clicks-topic", string(names.Clicks), "--purchases-topic", string(names.Purchases),
		"--items-topic", string(names.Items), "--models-topic", string(names.Models),
		"--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures)}
	return &faultInstance{t: t, bin: bin, logs: logs, api: api, ops: api, args: append(args, extra...)}
}

// groupSettled waits, up to 2 minutes, until the consumer group has the
// instances as its members, every one of the partitions of topic
// assigned, and each instance alive and ready; it returns the owner (API
// address) of each partition.
func groupSettled(t testing.TB, adm *topics.Admin, group string, topic topics.Topic, partitions int, instances ...*faultInstance) map[int32]string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		owners := map[int32]string{}
		ms, err := adm.GroupMembers(t.Context(), group)
		if err == nil && len(ms) == len(instances) {
			for _, m := range ms {
				var d struct {
					Advertise string `json:"advertise"`
				}
				if json.Unmarshal(m.UserData, &d) != nil {
					continue
				}
				for _, p := range m.Assigned[topic] {
					owners[p] = d.Advertise
				}
			}
		}
		ok := len(owners) == partitions
		for _, f := range instances {
			f.alive()
			ok = ok && f.isReady()
		}
		if ok {
			return owners
		}
		require.True(t, time.Now().Before(deadline), "the group did not settle in 2 minutes; logs:\n%s", instances[0].logs.String())
		time.Sleep(200 * time.Millisecond)
	}
}
