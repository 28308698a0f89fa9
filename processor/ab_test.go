package processor

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// TestArmPointPinned pins the assignment's output for a few ids: another
// service computes it from the README's description, and a change of hash
// would move users between arms in the middle of a test.
func TestArmPointPinned(t *testing.T) {
	for _, tc := range []struct {
		id    string
		point float64
		arm   string // at 50/50
	}{
		{"", 0.78227449931897342, ArmB},
		{"u0", 0.85417027973062076, ArmB},
		{"u1", 0.31304576648316462, ArmA},
		{"user-0042", 0.56582174321219758, ArmB},
		{"cat-person", 0.68574444256871592, ArmB},
		{"ü-ß", 0.08282631967892673, ArmA},
	} {
		got := ArmPoint(tc.id)
		require.Equal(t, tc.point, got, "ArmPoint(%q): got %.17g, want %.17g", tc.id, got, tc.point)
		require.Equal(t, tc.arm, AssignArm(tc.id, 0.5), "AssignArm(%q, 0.5)", tc.id)
		require.Equal(t, got, ArmPoint(tc.id), "the same id, the same point")
	}
}

// TestAssignArmShares: over 10,000 user ids, each arm's share is within 2
// points of the share asked, for several splits; and within 3 points in
// each of 4 partitions, as the producers place users (murmur2), so that an
// arm is no set of partitions.
func TestAssignArmShares(t *testing.T) {
	const users, partitions = 10_000, 4
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%d", i)
	}
	for _, shareA := range []float64{0.5, 0.9, 0.3, 0.1} {
		t.Run(fmt.Sprintf("A %.0f%%", 100*shareA), func(t *testing.T) {
			var a int
			var inPart, aInPart [partitions]int
			for _, id := range ids {
				arm := AssignArm(id, shareA)
				require.Equal(t, arm, AssignArm(id, shareA), "user %s: stable", id)
				part := murmur2.Balance(kafka.Message{Key: []byte(id)}, 0, 1, 2, 3)
				inPart[part]++
				if arm == ArmA {
					a++
					aInPart[part]++
				}
			}
			got := float64(a) / users
			require.InDelta(t, shareA, got, 0.02, "arm A's share over %d users: got %.4f, want %.2f ± 0.02", users, got, shareA)
			for p := range partitions {
				got := float64(aInPart[p]) / float64(inPart[p])
				require.InDelta(t, shareA, got, 0.03, "arm A's share in partition %d (%d users): got %.4f, want %.2f ± 0.03", p, inPart[p], got, shareA)
			}
		})
	}
}

// TestSplitConfig: New takes two arms of distinct model versions with
// positive shares, and normalises the shares in its own copy.
func TestSplitConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split []Arm
		want  []Arm
		err   string
	}{
		{name: "none"},
		{name: "percent", split: []Arm{{"m-1", 90}, {"m-2", 10}}, want: []Arm{{"m-1", 0.9}, {"m-2", 0.1}}},
		{name: "fractions", split: []Arm{{"m-1", 0.3}, {"m-2", 0.7}}, want: []Arm{{"m-1", 0.3}, {"m-2", 0.7}}},
		{name: "one arm", split: []Arm{{"m-1", 1}}, err: "1 arms, want 2"},
		{name: "three arms", split: []Arm{{"m-1", 1}, {"m-2", 1}, {"m-3", 1}}, err: "3 arms, want 2"},
		{name: "one version", split: []Arm{{"m-1", 1}, {"m-1", 1}}, err: `both arms are version "m-1"`},
		{name: "zero share", split: []Arm{{"m-1", 1}, {"m-2", 0}}, err: "arm B (m-2) has share 0, want > 0"},
		{name: "negative share", split: []Arm{{"m-1", -1}, {"m-2", 2}}, err: "arm A (m-1) has share -1"},
		{name: "NaN share", split: []Arm{{"m-1", math.NaN()}, {"m-2", 2}}, err: "has share NaN"},
		{name: "infinite share", split: []Arm{{"m-1", math.Inf(1)}, {"m-2", 2}}, err: "has share +Inf"},
		{name: "overflow", split: []Arm{{"m-1", math.MaxFloat64}, {"m-2", math.MaxFloat64}}, err: "overflow"},
		{name: "no version", split: []Arm{{"", 1}, {"m-2", 1}}, err: `arm A: "" is no model version`},
		{name: "a chunk key", split: []Arm{{"m-1", 1}, {"m-2/0", 1}}, err: `arm B: "m-2/0" is no model version`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			given := slices.Clone(tc.split)
			p, err := New(Config{Brokers: []string{"localhost:1"}, Split: tc.split}, db)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.InDeltaSlice(t, shares(tc.want), shares(p.cfg.Split), 1e-12, "normalised shares")
			require.Equal(t, versions(tc.want), versions(p.cfg.Split))
			require.Equal(t, versions(given), versions(tc.split))
			require.Equal(t, shares(given), shares(tc.split), "the caller's slice is not changed")
		})
	}
}

func shares(split []Arm) []float64 {
	out := []float64{}
	for _, a := range split {
		out = append(out, a.Share)
	}
	return out
}

func versions(split []Arm) []string {
	out := []string{}
	for _, a := range split {
		out = append(out, a.Version)
	}
	return out
}

// armsServing returns the version serving each arm's users (by the users'
// own arm: "A", "B"), and each arm's own engine's version ("" for none).
func armsServing(t *testing.T, e *Engine) (serve, own map[string]string) {
	t.Helper()
	require.NotNil(t, e, "an engine serves")
	require.NotNil(t, e.arms, "the serving engine carries the arms")
	serve, own = map[string]string{}, map[string]string{}
	for i, name := range armNames {
		if x := e.arms.serve[i]; x != nil {
			serve[name] = x.Version()
		}
		if x := e.arms.own[i]; x != nil {
			own[name] = x.Version()
		}
	}
	return serve, own
}

// TestModelFollowerSplit feeds a follower with an A/B split topics
// without Kafka: it serves the two versions of the split and no other,
// at start and live, one model's chunks held at a time; an arm whose
// version is missing or refused is served by the other's, and a model of
// it that comes later serves it.
func TestModelFollowerSplit(t *testing.T) {
	artefact := testArtefact(t)
	flipped := bytes.Clone(artefact)
	flipped[100] ^= 1
	size := int64(len(artefact))
	for _, tc := range []struct {
		name string
		log  func(l *modelLog)
		end  int // as followCase.end
		// serve and own as armsServing gives them.
		serve, own map[string]string
		rollouts   float64
		rejected   map[string]float64
		maxHeld    int64
		logs       []string // in the log, in this order
		warned     bool     // whether the log has a warning
	}{
		{
			name: "a start serves both arms and no other version",
			log: func(l *modelLog) {
				l.publish("m-a", artefact)
				l.publish("m-b", artefact)
				l.publish("m-newer", artefact)
				l.add("m-bad", []byte("not json")) // not ours to refuse
			},
			end:   -1,
			serve: map[string]string{"A": "m-a", "B": "m-b"}, own: map[string]string{"A": "m-a", "B": "m-b"},
			rollouts: 2, maxHeld: size,
			logs: []string{`msg="models on the topic not served: not in the A/B split" manifests=2 first_versions="[m-newer m-bad]"`},
		},
		{
			name: "a start with B missing: B's users are served by A until B comes",
			log: func(l *modelLog) {
				l.publish("m-a", artefact)
				l.publish("m-other", artefact)
				l.publish("m-b", artefact) // live
			},
			end:   4,
			serve: map[string]string{"A": "m-a", "B": "m-b"}, own: map[string]string{"A": "m-a", "B": "m-b"},
			rollouts: 2, maxHeld: size, warned: true,
			logs: []string{
				`level=WARN msg="A/B split: an arm's model version is missing from the models topic or was refused; its users are served by the other arm's until it comes" arm=B version=m-b served_by=m-a`,
				`level=WARN msg="A/B split: an arm is served by its own model version again" arm=B version=m-b`,
			},
		},
		{
			name: "B missing: still falling back",
			log: func(l *modelLog) {
				l.publish("m-a", artefact)
			},
			end:   -1,
			serve: map[string]string{"A": "m-a", "B": "m-a"}, own: map[string]string{"A": "m-a"},
			rollouts: 1, maxHeld: size, warned: true,
			logs: []string{`arm=B version=m-b served_by=m-a`},
		},
		{
			name: "A refused at start: its users are served by B",
			log: func(l *modelLog) {
				l.add(topics.ChunkKey("m-a", 0), flipped)
				l.add("m-a", manifestOf("m-a", artefact))
				l.publish("m-b", artefact)
			},
			end:   -1,
			serve: map[string]string{"A": "m-b", "B": "m-b"}, own: map[string]string{"B": "m-b"},
			rollouts: 1, rejected: map[string]float64{"corrupt_chunks": 1}, maxHeld: size, warned: true,
			logs: []string{`arm=A version=m-a served_by=m-b`},
		},
		{
			name: "live: another version is not served and its chunks not held; a model of an arm's version serves it again",
			log: func(l *modelLog) {
				l.publish("m-a", artefact)
				l.publish("m-b", artefact)
				l.publish("m-c", noise(3*topics.ModelChunkSize, 1))
				l.add(topics.ChunkKey("m-b", 0), flipped)
				l.add("m-b", manifestOf("m-b", artefact)) // refused: the m-b served keeps serving
				l.publish("m-a", artefact)
			},
			end:   4,
			serve: map[string]string{"A": "m-a", "B": "m-b"}, own: map[string]string{"A": "m-a", "B": "m-b"},
			rollouts: 3, rejected: map[string]float64{"corrupt_chunks": 1}, maxHeld: size,
			logs: []string{`msg="model not served: not in the A/B split" version=m-c`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			f, reg := newTestFollowerConfig(t, Config{Split: []Arm{{"m-a", 1}, {"m-b", 1}},
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			f.v.cat.mu.Lock()
			f.v.cat.markLoaded() // SetModel builds an engine
			f.v.cat.mu.Unlock()
			var l modelLog
			tc.log(&l)
			end := tc.end
			if end < 0 {
				end = len(l)
			}
			// feed, with the catch-up's end marked as followModels does.
			var held int64
			check := func() { held = max(held, heldBytes(f)) }
			read := func(_ int32, from, to int64, fn func(kafka.Message) error) error {
				if to < 0 {
					to = int64(end)
				}
				for _, m := range l[max(from, 0):to] {
					require.NoError(t, fn(m))
					check()
				}
				return nil
			}
			resume, err := f.catchUp([]int32{0}, read)
			require.NoError(t, err)
			from := int64(end)
			if o, ok := resume[0]; ok {
				from = o
			}
			f.markLoaded()
			for _, m := range l[from:] {
				require.NoError(t, f.apply(m))
				check()
			}

			serve, own := armsServing(t, f.v.engine())
			require.Equal(t, tc.serve, serve, "the version serving each arm's users")
			require.Equal(t, tc.own, own, "each arm's own version")
			primary := own["A"]
			if primary == "" {
				primary = own["B"]
			}
			require.Equal(t, primary, f.v.engine().Version(), "Engine() is A's, else B's")
			require.Equal(t, tc.rollouts, counterValues(t, reg, "sessionrec_model_rollouts_total")[""], "models served")
			want := tc.rejected
			if want == nil {
				want = map[string]float64{}
			}
			require.Equal(t, want, counterValues(t, reg, "sessionrec_model_rejected_total"), "refused by reason")
			require.Equal(t, tc.maxHeld, held, "got %d bytes held at most, want %d", held, tc.maxHeld)
			out := logs.String()
			at := 0
			for _, line := range tc.logs {
				i := strings.Index(out[at:], line)
				require.GreaterOrEqual(t, i, 0, "the log has %s after offset %d:\n%s", line, at, out)
				at += i + len(line)
			}
			require.Equal(t, tc.warned, strings.Contains(out, "level=WARN"), "a warning only when an arm falls back or stops:\n%s", out)

			// The routing: each user's arm by AssignArm, the engine of its
			// arm's serving version, and a fallback ranking counted for
			// its arm.
			e := f.v.engine()
			fallbacks := map[string]float64{}
			for i := range 40 {
				user := fmt.Sprintf("user-%d", i)
				ue, arm := userEngine(e, user)
				require.Equal(t, AssignArm(user, 0.5), arm, "user %s", user)
				require.Equal(t, tc.serve[arm], ue.Version(), "user %s of arm %s", user, arm)
				_, err := ue.Recommend(&store.UserState{}, nil, nil, t0)
				require.NoError(t, err)
				if tc.own[arm] == "" {
					fallbacks[arm]++
				}
			}
			require.Equal(t, fallbacks, counterValues(t, reg, "sessionrec_ab_fallback_total"), "fallback rankings by arm")
		})
	}
}

// TestSetModelSplit: with an A/B split, SetModel serves a model as its
// version's arm, and refuses one of another version.
func TestSetModelSplit(t *testing.T) {
	f, _ := newTestFollowerConfig(t, Config{Split: []Arm{{"m-a", 1}, {"m-b", 3}}})
	m, err := testModel()
	require.NoError(t, err)
	f.v.cat.mu.Lock()
	f.v.cat.markLoaded()
	f.v.cat.mu.Unlock()
	other := *m
	other.Info.Version = "m-c"
	require.ErrorIs(t, f.v.setModel(&other), ErrNotInSplit)
	require.Nil(t, f.v.engine(), "nothing serves")
	b := *m
	b.Info.Version = "m-b"
	require.NoError(t, f.v.setModel(&b))
	serve, own := armsServing(t, f.v.engine())
	require.Equal(t, map[string]string{"A": "m-b", "B": "m-b"}, serve)
	require.Equal(t, map[string]string{"B": "m-b"}, own)
	require.Equal(t, 0.25, f.v.engine().arms.shareA)
}

// TestABSplit: an instance run with an A/B split, on kfake and the real
// broker, serves the two versions of the models topic (a third is not
// served): every record carries the arm AssignArm gives its user and that
// arm's version, and the query API says the same; an item that arrives
// reaches both arms' engines.
func TestABSplit(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testABSplit(t, brokers) })
	}
}

// publishModels puts artefact on the models topic under each version.
func publishModels(t *testing.T, brokers []string, names topics.Names, artefact []byte, versions ...string) {
	t.Helper()
	for _, v := range versions {
		_, err := topics.PublishModel(t.Context(), brokers, names.Models, v, artefact, nil)
		require.NoError(t, err)
	}
}

// clickUsers sends a click of each user on an item of topic 0 (the i-th),
// so that each gets a record.
func clickUsers(t *testing.T, prod *topics.Producer, items []string, users []string, i int) {
	t.Helper()
	at := time.Now().Truncate(time.Millisecond)
	for _, u := range users {
		require.NoError(t, prod.Send(t.Context(), topics.Event{Kind: topics.KindClick, UserID: u, ItemID: items[i], Time: at}))
	}
}

// armRecords reads the recommendations topic until every user has
// want records, and returns each user's latest.
func armRecords(t *testing.T, brokers []string, names topics.Names, users []string, want int) map[string]topics.Recommendation {
	t.Helper()
	var out map[string]topics.Recommendation
	readAll(t, brokers, names.Recommendations, 2, 60*time.Second, func(ms []kafka.Message) bool {
		out = map[string]topics.Recommendation{}
		n := map[string]int{}
		for _, m := range ms { // a user's records are in one partition, in order
			r, err := topics.DecodeRecommendation(m.Value)
			require.NoError(t, err)
			out[r.UserID] = r
			n[r.UserID]++
		}
		for _, u := range users {
			if n[u] < want {
				return false
			}
		}
		return true
	})
	for _, u := range users {
		require.Contains(t, out, u, "a record of user %s", u)
	}
	return out
}

func testABSplit(t *testing.T, brokers []string) {
	names, _, prod, shop, _ := shopOnTopics(t, brokers)
	publishModels(t, brokers, names, testArtefact(t), "model-a", "model-b", "model-c")
	split := []Arm{{"model-a", 30}, {"model-b", 70}}
	in := startInstance(t, brokers, names, t.TempDir(), Config{Split: split, Engine: EngineConfig{Knobs: Knobs{K: 5}}}, nil)
	defer in.stop()
	version := map[string]string{ArmA: "model-a", ArmB: "model-b"}
	serve, own := armsServing(t, in.p.Engine())
	require.Equal(t, version, serve)
	require.Equal(t, version, own)
	require.Equal(t, "model-a", in.p.Engine().Version(), "Engine() is arm A's")

	var users []string
	arms := map[string]int{}
	for i := range 30 {
		u := fmt.Sprintf("ab-user-%d", i)
		users = append(users, u)
		arms[AssignArm(u, 0.3)]++
	}
	require.Positive(t, arms[ArmA], "users in both arms")
	require.Positive(t, arms[ArmB], "users in both arms")
	var items []string
	for _, i := range shop.ByTopic[0] {
		items = append(items, shop.Items[i].ID)
	}
	clickUsers(t, prod, items, users, 0)
	recs := armRecords(t, brokers, names, users, 1)
	for _, u := range users {
		arm := AssignArm(u, 0.3)
		require.Equal(t, arm, recs[u].Arm, "user %s: the record's arm", u)
		require.Equal(t, version[arm], recs[u].ModelVersion, "user %s of arm %s: the record's version", u, arm)
	}

	// The query API ranks a user with the user's arm's version.
	srv := httptest.NewServer(in.p.Handler(in.reg))
	defer srv.Close()
	for _, u := range users[:6] {
		var r RecommendationsResponse
		status, _ := getJSON(t, srv.URL+"/v1/users/"+u+"/recommendations", &r)
		require.Equal(t, 200, status)
		arm := AssignArm(u, 0.3)
		require.Equal(t, arm, r.Arm, "user %s: the answer's arm", u)
		require.Equal(t, version[arm], r.ModelVersion, "user %s", u)
		var s SessionResponse
		status, _ = getJSON(t, srv.URL+"/v1/users/"+u+"/session", &s)
		require.Equal(t, 200, status)
		require.Equal(t, arm, s.Arm, "user %s: the session's arm", u)
		require.Equal(t, version[arm], s.ModelVersion, "user %s", u)
	}
	require.Empty(t, counterValues(t, in.reg, "sessionrec_ab_fallback_total"), "no fallback")
	info := gaugeValues(t, in.reg, "sessionrec_model_info")
	require.Equal(t, map[string]float64{"model-a": 1, "model-b": 1}, info, "both versions serve")

	// An item that arrives reaches both arms' engines.
	like := shop.Items[shop.ByTopic[0][1]]
	fresh := topics.Item{ItemID: "ab-new-item", Name: like.Name + " new", Category: like.Category, Brand: like.Brand, Price: like.Price}
	require.NoError(t, prod.SendItems(t.Context(), fresh))
	require.Eventually(t, func() bool {
		a := in.p.Engine().arms
		return a.own[0].Knows(fresh.ItemID) && a.own[1].Knows(fresh.ItemID)
	}, 30*time.Second, 20*time.Millisecond, "both arms know the new item")
}

// gaugeValues returns the values of a gauge family by its label's value.
func gaugeValues(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestABFallback: an instance run with an A/B split whose B version is
// refused (corrupt) serves B's users with A's version, their records
// keeping arm B, and counts the fallbacks; once a good B is published,
// B's users get B's version again.
func TestABFallback(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testABFallback(t, brokers) })
	}
}

func testABFallback(t *testing.T, brokers []string) {
	names, _, prod, shop, _ := shopOnTopics(t, brokers)
	artefact := testArtefact(t)
	publishModels(t, brokers, names, artefact, "model-a")
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Topic: string(names.Models), BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll, BatchBytes: 2 * topics.ModelChunkSize}
	defer func() { require.NoError(t, w.Close()) }()
	flipped := bytes.Clone(artefact)
	flipped[len(flipped)/2] ^= 0x10
	require.NoError(t, w.WriteMessages(t.Context(),
		kafka.Message{Key: []byte(topics.ChunkKey("model-b", 0)), Value: flipped},
		kafka.Message{Key: []byte("model-b"), Value: manifestOf("model-b", artefact)}))

	var logs syncBuffer
	in := startInstance(t, brokers, names, t.TempDir(), Config{Split: []Arm{{"model-a", 1}, {"model-b", 1}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Engine: EngineConfig{Knobs: Knobs{K: 5}}}, nil)
	defer in.stop()
	require.Equal(t, map[string]float64{"corrupt_chunks": 1}, counterValues(t, in.reg, "sessionrec_model_rejected_total"))
	require.Contains(t, logs.String(), "arm=B version=model-b served_by=model-a", "the fallback is logged")

	var users []string
	inB := 0
	for i := range 20 {
		u := fmt.Sprintf("fb-user-%d", i)
		users = append(users, u)
		if AssignArm(u, 0.5) == ArmB {
			inB++
		}
	}
	require.Positive(t, inB)
	var items []string
	for _, i := range shop.ByTopic[0] {
		items = append(items, shop.Items[i].ID)
	}
	clickUsers(t, prod, items, users, 0)
	recs := armRecords(t, brokers, names, users, 1)
	for _, u := range users {
		arm := AssignArm(u, 0.5)
		require.Equal(t, arm, recs[u].Arm, "user %s: the record keeps the user's arm", u)
		require.Equal(t, "model-a", recs[u].ModelVersion, "user %s of arm %s: A's version serves", u, arm)
	}
	require.Equal(t, map[string]float64{ArmB: float64(inB)}, counterValues(t, in.reg, "sessionrec_ab_fallback_total"),
		"a fallback counted per ranking of a B user")

	// A good model-b, published live, serves B's users.
	publishModels(t, brokers, names, artefact, "model-b")
	require.Eventually(t, func() bool {
		serve, _ := armsServing(t, in.p.Engine())
		return serve[ArmB] == "model-b"
	}, 30*time.Second, 20*time.Millisecond)
	require.Contains(t, logs.String(), "msg=\"A/B split: an arm is served by its own model version again\" arm=B version=model-b")
	clickUsers(t, prod, items, users, 1)
	recs = armRecords(t, brokers, names, users, 2)
	for _, u := range users {
		arm := AssignArm(u, 0.5)
		require.Equal(t, arm, recs[u].Arm, "user %s", u)
		require.Equal(t, map[string]string{ArmA: "model-a", ArmB: "model-b"}[arm], recs[u].ModelVersion, "user %s of arm %s", u, arm)
	}
	require.Equal(t, map[string]float64{ArmB: float64(inB)}, counterValues(t, in.reg, "sessionrec_ab_fallback_total"),
		"no fallback since")
}
