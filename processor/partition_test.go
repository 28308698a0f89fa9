package processor

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// testModel trains a small model on the synthetic shop once per test
// binary, and returns it with the shop's catalogue.
var testModel = sync.OnceValues(func() (*model.Model, error) {
	shop := synth.NewShop(1)
	items := testItems(shop)
	index := map[string]int32{}
	for i, it := range items {
		index[it.ID] = int32(i)
	}
	c := model.Corpus{Items: items}
	for _, s := range shop.Sessions(1, synth.SessionConfig{Sessions: 3000}) {
		evs := make([]model.Event, len(s))
		for i, e := range s {
			evs[i] = model.Event{Item: index[e.ItemID], Purchase: e.Purchase}
		}
		c.Sessions = append(c.Sessions, evs)
	}
	return model.Train(c, model.TrainConfig{Epochs: 10, Seed: 1})
})

// testItems is the synthetic shop's catalogue.
func testItems(shop *synth.Shop) []model.Item {
	items := make([]model.Item, len(shop.Items))
	for i, it := range shop.Items {
		items[i] = model.Item{ID: it.ID, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price}
	}
	return items
}

// testEngine is an engine of testModel over the shop's catalogue.
var testEngine = sync.OnceValues(func() (*Engine, error) {
	m, err := testModel()
	if err != nil {
		return nil, err
	}
	return NewEngine(m, testItems(synth.NewShop(1)), nil, model.IntentConfig{}, Knobs{K: 5})
})

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type recorder struct {
	offset map[topics.Topic]int64
}

func (r *recorder) rec(t *testing.T, kind topics.Kind, user, item string, at time.Duration, eventID string) Record {
	t.Helper()
	e := topics.Event{Kind: kind, UserID: user, ItemID: item, EventID: eventID, Time: t0.Add(at)}
	if kind == topics.KindPurchase {
		e.Quantity, e.Price = 1, 9.99
	}
	v, err := e.Encode()
	require.NoError(t, err)
	return r.raw(kind, user, string(v))
}

func (r *recorder) raw(kind topics.Kind, key, value string) Record {
	topic := topics.Clicks
	if kind == topics.KindPurchase {
		topic = topics.Purchases
	}
	if r.offset == nil {
		r.offset = map[topics.Topic]int64{}
	}
	o := r.offset[topic]
	r.offset[topic]++
	return Record{Kind: kind, Topic: topic, Partition: 3, Offset: o, Key: []byte(key), Value: []byte(value), Time: t0}
}

func newTestPartition(t *testing.T, withModel bool) (*partition, *store.DB) {
	t.Helper()
	db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	eng := func() *Engine { return nil }
	if withModel {
		e, err := testEngine()
		require.NoError(t, err)
		eng = func() *Engine { return e }
	}
	p, err := newPartition(3, db, Sessionizer{}, topics.Limits{}, eng)
	require.NoError(t, err)
	return p, db
}

func run(t *testing.T, p *partition, recs ...Record) *pending {
	t.Helper()
	// The reader's clock a day past t0: the tests' events lie in the
	// day after t0, and an event more than Limits.MaxFuture ahead of the
	// clock is refused.
	pd, err := p.process(recs, 0, t0.Add(25*time.Hour))
	require.NoError(t, err)
	require.NoError(t, p.commit(pd, false))
	return pd
}

func TestPartitionPublishesWhenIntentsChange(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	shop := synth.NewShop(1)
	food := shop.Items[shop.ByTopic[0][0]].ID
	food2 := shop.Items[shop.ByTopic[0][5]].ID
	toy := shop.Items[shop.ByTopic[1][0]].ID

	pd := run(t, p, r.rec(t, topics.KindClick, "u1", food, 0, "e1"))
	require.Len(t, pd.recs, 1)
	rec := pd.recs[0]
	require.Equal(t, "u1", rec.UserID)
	require.Len(t, rec.Items, 5)
	require.Len(t, rec.Intents, 1)
	require.True(t, rec.Intents[0].Current)
	require.Equal(t, int64(0), rec.Source.Offset)
	require.NotEmpty(t, rec.ModelVersion)
	for _, it := range rec.Items {
		require.Equal(t, rec.Intents[0].ID, it.Intent)
	}

	// The same item again: the intents are the same, nothing is published.
	pd = run(t, p, r.rec(t, topics.KindClick, "u1", food, time.Minute, "e2"))
	require.Empty(t, pd.recs)
	require.Equal(t, 1, pd.stats.applied)

	// More cat food and then a cat toy: the intents change each time.
	pd = run(t, p, r.rec(t, topics.KindClick, "u1", food2, 2*time.Minute, "e3"),
		r.rec(t, topics.KindPurchase, "u1", toy, 3*time.Minute, "e4"))
	require.Len(t, pd.recs, 1, "one record per user per batch: the latest")
	rec = pd.recs[0]
	require.Equal(t, topics.Purchases, rec.Source.Topic)
	for _, it := range rec.Items {
		require.NotEqual(t, toy, it.ItemID, "a purchased item is not recommended")
	}

	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Equal(t, uint64(4), s.Applied)
	require.Len(t, s.Events, 4)
	cp, err := db.Checkpoint(3)
	require.NoError(t, err)
	require.Equal(t, int64(3), cp.Offsets["clicks"])
	require.Equal(t, int64(1), cp.Offsets["purchases"])
}

func TestPartitionDeadLetters(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	shop := synth.NewShop(1)
	item := shop.Items[0].ID
	good := r.rec(t, topics.KindClick, "u1", item, time.Hour, "")
	cases := []struct {
		name   string
		rec    Record
		reason string
	}{
		{"malformed json", r.raw(topics.KindClick, "u1", `{"user_id":`), topics.ReasonMalformed},
		{"missing item", r.raw(topics.KindClick, "u1", `{"user_id":"u1","ts":1700000000000}`), topics.ReasonMissingField},
		{"unknown field", r.raw(topics.KindClick, "u1", `{"user_id":"u1","item_id":"x","foo":1}`), topics.ReasonUnknownField},
		{"unknown item", r.rec(t, topics.KindClick, "u1", "no-such-item", time.Hour, ""), topics.ReasonUnknownItem},
		{"key differs from user", r.raw(topics.KindClick, "someone-else", string(good.Value)), topics.ReasonInvalidField},
		{"absurd timestamp", r.raw(topics.KindClick, "u1", `{"user_id":"u1","item_id":"`+item+`","ts":"1999-01-01T00:00:00Z"}`), topics.ReasonTimestamp},
		{"non-positive quantity", r.raw(topics.KindPurchase, "u1", `{"user_id":"u1","item_id":"`+item+`","quantity":0,"price":1}`), topics.ReasonInvalidField},
		{"negative price", r.raw(topics.KindPurchase, "u1", `{"user_id":"u1","item_id":"`+item+`","quantity":1,"price":-1}`), topics.ReasonInvalidField},
		{"oversized", r.raw(topics.KindClick, "u1", `{"user_id":"u1","item_id":"`+strings.Repeat("x", 70_000)+`"}`), topics.ReasonTooLarge},
	}
	var recs []Record
	for _, tc := range cases {
		recs = append(recs, tc.rec)
	}
	recs = append(recs, good)
	pd := run(t, p, recs...)
	require.Len(t, pd.dead, len(cases))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dl := pd.dead[i]
			require.Equal(t, tc.reason, dl.Reason, "error %s", dl.Error)
			require.Equal(t, tc.rec.Offset, dl.Offset)
			require.Equal(t, tc.rec.Topic, dl.Topic)
			require.Equal(t, int32(3), dl.Partition)
			require.Equal(t, tc.rec.Value, dl.Value, "the original bytes")
		})
	}
	require.Equal(t, 1, pd.stats.applied, "the partition keeps going: the good record after them is applied")
	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Equal(t, uint64(1), s.Applied)

	// A late event: more than the grace before the highest event time.
	pd = run(t, p, r.rec(t, topics.KindClick, "u1", item, time.Hour-2*time.Minute, ""))
	require.Len(t, pd.dead, 1)
	require.Equal(t, topics.ReasonLate, pd.dead[0].Reason)
}

func TestPartitionAbortLeavesStateAndOffsets(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	item := synth.NewShop(1).Items[0].ID
	run(t, p, r.rec(t, topics.KindClick, "u1", item, 0, "e1"))
	pd, err := p.process([]Record{r.rec(t, topics.KindClick, "u1", item, time.Minute, "e2")}, 0, t0)
	require.NoError(t, err)
	require.NoError(t, p.abort(pd))
	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Equal(t, uint64(1), s.Applied)
	next, ok := p.Next(topics.Clicks)
	require.True(t, ok)
	require.Equal(t, int64(1), next, "resume at the aborted record")
}

func TestPartitionClosesSessionsIntoHistory(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	shop := synth.NewShop(1)
	var recs []Record
	for i, ix := range shop.ByTopic[3][:3] {
		recs = append(recs, r.rec(t, topics.KindClick, "u1", shop.Items[ix].ID, time.Duration(i)*time.Minute, fmt.Sprint("e", i)))
	}
	run(t, p, recs...)
	// Idle: 30 minutes of wall clock pass the watermark beyond the gap.
	pd, err := p.process(nil, (30 * time.Minute).Milliseconds(), t0.Add(time.Hour))
	require.NoError(t, err)
	require.NoError(t, p.commit(pd, false))
	require.Equal(t, 1, pd.stats.closed)
	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Empty(t, s.Events)
	require.Equal(t, uint64(1), s.Sessions)
	require.NotEmpty(t, s.Past, "the closed session's intents are kept")
	require.Len(t, pd.recs, 1, "the intents moved to the past: a new record")
	for _, in := range pd.recs[0].Intents {
		require.True(t, in.Past)
	}
	require.NoError(t, db.Expiring(3, math.MaxInt64, func(id string, _ int64) bool {
		t.Errorf("user %s still in the expiry index", id)
		return true
	}))
}

func TestPartitionWithoutModelKeepsState(t *testing.T) {
	p, db := newTestPartition(t, false)
	var r recorder
	pd := run(t, p, r.rec(t, topics.KindClick, "u1", "any-item", 0, "e1"), r.rec(t, topics.KindClick, "u1", "other", time.Minute, "e1"))
	require.Empty(t, pd.recs)
	require.Equal(t, 1, pd.stats.applied)
	require.Equal(t, 1, pd.stats.duplicates)
	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Equal(t, uint64(1), s.Applied)
}

// A watermark that ends more sessions than one batch may close closes them
// a slice per batch: the batch says there is a backlog, the following
// (empty) batches close the rest, and every session ends exactly once.
func TestPartitionClosesAJumpOfSessionsInSlices(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	shop := synth.NewShop(1)
	item := shop.Items[shop.ByTopic[0][0]].ID
	users := 2*maxExpiries + 10
	var recs []Record
	for i := range users {
		recs = append(recs, r.rec(t, topics.KindClick, fmt.Sprintf("u%03d", i), item, time.Duration(i)*time.Millisecond, ""))
	}
	pd := run(t, p, recs...)
	require.False(t, pd.backlog)
	require.Equal(t, users, p.open)

	// One event an hour later moves the watermark past every session but
	// its own.
	pd = run(t, p, r.rec(t, topics.KindClick, "late-user", item, time.Hour, ""))
	require.True(t, pd.backlog)
	require.Equal(t, maxExpiries, pd.stats.closed)
	closed := pd.stats.closed
	for batches := 0; p.backlog; batches++ {
		require.Less(t, batches, users, "the backlog drains")
		pd = run(t, p)
		require.LessOrEqual(t, pd.stats.closed, maxExpiries)
		closed += pd.stats.closed
	}
	require.Equal(t, users, closed, "every ended session closed once")
	require.Equal(t, 1, p.open, "only the late user's session is open")
	n := 0
	require.NoError(t, db.Expiring(3, math.MaxInt64, func(string, int64) bool { n++; return true }))
	require.Equal(t, 1, n)
	for i := range users {
		s, err := db.User(3, fmt.Sprintf("u%03d", i))
		require.NoError(t, err)
		require.Empty(t, s.Events, "user %d: session closed", i)
		require.Equal(t, uint64(1), s.Sessions)
	}
}

// A zero History means no weight for past sessions (run --history 0), not
// the default; K and HalfLife take theirs when zero.
func TestKnobsZeroIsZero(t *testing.T) {
	k := Knobs{}
	k.fill()
	d := DefaultKnobs()
	require.Zero(t, k.History)
	require.Equal(t, d.K, k.K)
	require.Equal(t, d.HalfLife, k.HalfLife)
	require.InDelta(t, 0.3, d.History, 0)
}

// A user keeps the intents of their last closed sessions, as many as
// KeepIntents, newest first; a negative KeepIntents keeps none.
func TestPartitionKeepsPastIntents(t *testing.T) {
	shop := synth.NewShop(1)
	for _, c := range []struct{ keep, want int }{{0, 4}, {2, 2}, {-1, 0}} {
		db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
		require.NoError(t, err)
		e, err := testEngine()
		require.NoError(t, err)
		p, err := newPartition(3, db, Sessionizer{KeepIntents: c.keep}, topics.Limits{}, func() *Engine { return e })
		require.NoError(t, err)
		var r recorder
		// Four sessions an hour apart, each about another topic; then one
		// more event that closes the fourth.
		for i := range 4 {
			run(t, p, r.rec(t, topics.KindClick, "u1", shop.Items[shop.ByTopic[i][0]].ID, time.Duration(i)*time.Hour, ""))
		}
		run(t, p, r.rec(t, topics.KindClick, "u2", shop.Items[0].ID, 5*time.Hour, ""))
		s, err := db.User(3, "u1")
		require.NoError(t, err)
		require.Len(t, s.Past, c.want, "keep %d", c.keep)
		if c.want > 0 {
			require.Equal(t, shop.Items[shop.ByTopic[3][0]].ID, s.Past[0].Items[0], "newest first")
		}
		require.NoError(t, db.Close())
	}
}

// A user who comes back to what an earlier session was about resumes that
// intent: the new session's intent carries the past intent's ID (in the
// record, listed once), and when the session closes it replaces the old
// one in the user's past.
func TestPartitionResumesPastIntent(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	shop := synth.NewShop(1)
	topic := shop.ByTopic[3]
	var first []Record
	for i, ix := range topic[:3] {
		first = append(first, r.rec(t, topics.KindClick, "u1", shop.Items[ix].ID, time.Duration(i)*time.Minute, ""))
	}
	run(t, p, first...)
	// An hour later, the same subject again: the first session closes.
	var second []Record
	for i, ix := range topic[3:6] {
		second = append(second, r.rec(t, topics.KindClick, "u1", shop.Items[ix].ID, time.Hour+time.Duration(i)*time.Minute, ""))
	}
	pd := run(t, p, second...)
	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Len(t, s.Past, 1, "the first session's one intent")
	pastID := s.Past[0].ID
	require.NotEmpty(t, pd.recs)
	rec := pd.recs[len(pd.recs)-1]
	var current []string
	listed := 0
	for _, in := range rec.Intents {
		if in.ID == pastID {
			listed++
		}
		if in.Current {
			current = append(current, in.ID)
		}
	}
	require.Equal(t, []string{pastID}, current, "the session's intent resumes the past one: %+v", rec.Intents)
	require.Equal(t, 1, listed, "the resumed intent is listed once: %+v", rec.Intents)

	// The second session closes: its intent replaces the one it resumed.
	pd, err = p.process(nil, (30 * time.Minute).Milliseconds(), t0.Add(3*time.Hour))
	require.NoError(t, err)
	require.NoError(t, p.commit(pd, false))
	s, err = db.User(3, "u1")
	require.NoError(t, err)
	require.Len(t, s.Past, 1, "one intent, resumed, not two: %+v", s.Past)
	require.Equal(t, pastID, s.Past[0].ID)
	require.Subset(t, s.Past[0].Items, []string{shop.Items[topic[3]].ID})
}

// erasure is the record of an erasure request for user on the erasures
// topic, after the recorder's other records.
func (r *recorder) erasure(user, value string) Record {
	if r.offset == nil {
		r.offset = map[topics.Topic]int64{}
	}
	o := r.offset[topics.Erasures]
	r.offset[topics.Erasures]++
	return Record{Kind: topics.KindErasure, Topic: topics.Erasures, Partition: 3, Offset: o, Key: []byte(user), Value: []byte(value), Time: t0}
}

func TestPartitionErasure(t *testing.T) {
	p, db := newTestPartition(t, true)
	var r recorder
	shop := synth.NewShop(1)
	food := shop.Items[shop.ByTopic[0][0]].ID
	toy := shop.Items[shop.ByTopic[1][0]].ID

	// Two users with sessions and published records; u1 has a past
	// intent too.
	run(t, p, r.rec(t, topics.KindClick, "u1", food, 0, "e1"), r.rec(t, topics.KindClick, "u2", food, 0, "e2"))
	run(t, p, r.rec(t, topics.KindClick, "u1", toy, 2*time.Hour, "e3"))
	before, err := db.User(3, "u1")
	require.NoError(t, err)
	require.NotEmpty(t, before.Past, "u1's first session closed with an intent")
	require.NotZero(t, p.open)

	// u1 forgotten: deleted from the store with its expiry entry, a
	// changelog tombstone (nil state), a recommendations tombstone, the
	// offset in the checkpoint. u2 is untouched.
	openBefore := p.open
	pd := run(t, p, r.erasure("u1", `{"user_id":"u1","requested_at":"2026-03-01T12:00:00Z"}`))
	require.Equal(t, 1, pd.stats.erased)
	require.Equal(t, []string{"u1"}, pd.erased)
	require.Empty(t, pd.recs)
	require.Len(t, pd.users, 1)
	require.Equal(t, "u1", pd.users[0].id)
	require.Nil(t, pd.users[0].state, "a changelog tombstone")
	require.Equal(t, int64(1), pd.cp.Offsets[string(topics.Erasures)])
	_, err = db.User(3, "u1")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, openBefore-1, p.open)
	require.NoError(t, db.Expiring(3, math.MaxInt64, func(id string, _ int64) bool {
		require.NotEqual(t, "u1", id, "u1's expiry entry")
		return true
	}))
	require.NoError(t, db.Scan(func(k, v []byte) bool {
		require.NotContains(t, string(k), "u1", "a key of u1 left in the store")
		require.NotContains(t, string(v), "u1", "a value naming u1 left in the store")
		return true
	}))
	_, err = db.User(3, "u2")
	require.NoError(t, err)

	// An erasure and then an event of the same user in one batch: the
	// event starts from nothing, and its record comes after the
	// tombstone. An erasure of a user the store never held is applied
	// all the same (its records may exist elsewhere).
	pd = run(t, p, r.rec(t, topics.KindClick, "u2", toy, 3*time.Hour, "e4"), r.erasure("u2", ""), r.rec(t, topics.KindClick, "u2", food, 3*time.Hour+time.Minute, "e5"),
		r.erasure("nobody", ""))
	require.Equal(t, 2, pd.stats.erased)
	require.Equal(t, []string{"nobody", "u2"}, pd.erased)
	require.Len(t, pd.recs, 1)
	require.Equal(t, "u2", pd.recs[0].UserID)
	s, err := db.User(3, "u2")
	require.NoError(t, err)
	require.Equal(t, uint64(1), s.Applied, "only the event after the request")
	require.Len(t, s.Events, 1)
	require.Equal(t, food, s.Events[0].ItemID)
	require.Empty(t, s.Past)

	// Bad requests are dead letters, never a crash.
	pd = run(t, p, r.erasure("", ""), r.erasure("u2", `{"user_id":"u3"}`), r.erasure("u2", `{"colour":"red"}`), r.erasure("u2", "{not json"), r.erasure("u\x07", ""))
	require.Zero(t, pd.stats.erased)
	require.Len(t, pd.dead, 5)
	for _, d := range pd.dead {
		require.Equal(t, topics.Erasures, d.Topic, "%+v", d)
	}
	_, err = db.User(3, "u2")
	require.NoError(t, err, "a bad request forgets nobody")
}
