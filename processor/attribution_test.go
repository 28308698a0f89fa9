package processor

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// A click of a recommended item within the window is followed, of another
// item eligible only; an event past the window, or of a user shown
// nothing, is not counted; a followed purchase adds its revenue. The
// counts go by the model version and arm of the record followed.
func TestPartitionAttribution(t *testing.T) {
	p, db := newTestPartition(t, true)
	p.attrWindowMs = (30 * time.Minute).Milliseconds()
	var r recorder
	shop := synth.NewShop(1)
	food := shop.Items[shop.ByTopic[0][0]].ID

	pd := run(t, p, r.rec(t, topics.KindClick, "u1", food, 0, "e1"))
	require.Len(t, pd.recs, 1)
	rec := pd.recs[0]
	version := rec.ModelVersion
	exposed := pd.stats.attr[attrKey{version, ""}]
	require.NotNil(t, exposed)
	require.Equal(t, uint64(1), exposed.exposed)
	require.Zero(t, exposed.clicks, "the first click had nothing shown before it")
	s, err := db.User(3, "u1")
	require.NoError(t, err)
	require.Len(t, s.Exposures, 1)
	require.Equal(t, rec.Source.EventTime.UnixMilli(), s.Exposures[0].AtMs)
	require.Equal(t, version, s.Exposures[0].Version)

	shown := rec.Items[1].ItemID
	notShown := ""
	for _, it := range shop.Items {
		if !slices.ContainsFunc(rec.Items, func(x topics.RecommendedItem) bool { return x.ItemID == it.ID }) && it.ID != food {
			notShown = it.ID
			break
		}
	}
	pd = run(t, p, r.rec(t, topics.KindClick, "u1", shown, time.Minute, "e2"))
	c := pd.stats.attr[attrKey{version, ""}]
	require.Equal(t, uint64(1), c.clicks)
	require.Equal(t, uint64(1), c.clicksFollowed)

	pd = run(t, p, r.rec(t, topics.KindClick, "u1", notShown, 2*time.Minute, "e3"))
	c = pd.stats.attr[attrKey{version, ""}]
	require.Equal(t, uint64(1), c.clicks)
	require.Zero(t, c.clicksFollowed)

	// A purchase of an item shown: followed, with its revenue (the
	// recorder's purchases cost 9.99, quantity 1).
	s, err = db.User(3, "u1")
	require.NoError(t, err)
	bought := s.Exposures[0].Items[0]
	pd = run(t, p, r.rec(t, topics.KindPurchase, "u1", bought, 3*time.Minute, "e4"))
	c = pd.stats.attr[attrKey{version, ""}]
	require.Equal(t, uint64(1), c.purchases)
	require.Equal(t, uint64(1), c.purchasesFollowed)
	require.InDelta(t, 9.99, c.revenue, 1e-9)

	// An hour later the exposures are out of the window: not counted.
	s, err = db.User(3, "u1")
	require.NoError(t, err)
	pd = run(t, p, r.rec(t, topics.KindClick, "u1", s.Exposures[0].Items[0], 34*time.Minute, "e5"))
	if c := pd.stats.attr[attrKey{version, ""}]; c != nil {
		require.Zero(t, c.clicks, "past the window")
	}

	// Attribution off: no exposures kept, nothing counted.
	p.attrWindowMs = 0
	pd = run(t, p, r.rec(t, topics.KindClick, "u2", food, 40*time.Minute, "f1"))
	require.Len(t, pd.recs, 1)
	require.Empty(t, pd.stats.attr)
	s, err = db.User(3, "u2")
	require.NoError(t, err)
	require.Empty(t, s.Exposures)
}

// expose keeps the latest record's exposure alone, its first
// store.MaxExposedItems items, and leaves it for a record without a
// source event; every record is counted.
func TestExposeLatest(t *testing.T) {
	s := &store.UserState{}
	var b attrBatch
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(at time.Time, n int, version string) *topics.Recommendation {
		r := &topics.Recommendation{ModelVersion: version, Source: topics.Source{EventTime: at}}
		for i := range n {
			r.Items = append(r.Items, topics.RecommendedItem{ItemID: fmt.Sprint(version, "-", i)})
		}
		return r
	}
	expose(s, rec(at, 10, "m-1"), &b)
	expose(s, rec(at.Add(time.Minute), 100, "m-2"), &b)
	require.Len(t, s.Exposures, 1)
	x := s.Exposures[0]
	require.Equal(t, "m-2", x.Version)
	require.Equal(t, at.Add(time.Minute).UnixMilli(), x.AtMs)
	require.Len(t, x.Items, store.MaxExposedItems)
	require.Equal(t, "m-2-0", x.Items[0])

	// A record without a source event exposes nothing, but is counted.
	expose(s, rec(time.Time{}, 3, "y"), &b)
	require.Equal(t, "m-2", s.Exposures[0].Version)
	require.Equal(t, uint64(1), b[attrKey{"y", ""}].exposed)
	require.Equal(t, uint64(1), b[attrKey{"m-1", ""}].exposed)
	require.Equal(t, uint64(1), b[attrKey{"m-2", ""}].exposed)

	// Attribution goes by the latest exposure: the earlier record's items
	// are no longer followed.
	var c attrBatch
	attribute(s, topics.Event{Kind: topics.KindClick, ItemID: "m-1-0", Time: at.Add(2 * time.Minute)}, (30 * time.Minute).Milliseconds(), &c)
	attribute(s, topics.Event{Kind: topics.KindClick, ItemID: "m-2-5", Time: at.Add(3 * time.Minute)}, (30 * time.Minute).Milliseconds(), &c)
	require.Equal(t, &attrCounts{clicks: 2, clicksFollowed: 1}, c[attrKey{"m-2", ""}])
}

func TestWilson(t *testing.T) {
	p, ci := wilson(0, 0)
	require.Zero(t, p)
	require.Equal(t, [2]float64{0, 1}, ci)
	// Known values: 30 of 100 at 95% is [0.2189, 0.3958].
	p, ci = wilson(30, 100)
	require.InDelta(t, 0.3, p, 1e-12)
	require.InDelta(t, 0.2189, ci[0], 1e-4)
	require.InDelta(t, 0.3958, ci[1], 1e-4)
	_, ci = wilson(0, 10)
	require.Zero(t, ci[0])
	require.InDelta(t, 0.2775, ci[1], 1e-4)
	_, ci = wilson(10, 10)
	require.Equal(t, 1.0, ci[1])
	require.False(t, math.IsNaN(ci[0]))
}

// The summary sums committed batches by version and arm, sorted, with the
// rates and intervals of the sums.
func TestAttributionSummary(t *testing.T) {
	a := newAttribution(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	a.add(attrBatch{{"m-2", "B"}: {exposed: 2, clicks: 10, clicksFollowed: 3}, {"m-1", "A"}: {exposed: 1, purchases: 4, purchasesFollowed: 1, revenue: 9.5}})
	a.add(attrBatch{{"m-2", "B"}: {clicks: 90, clicksFollowed: 27}})
	got := a.summary(30 * time.Minute)
	require.Equal(t, 1800.0, got.WindowSeconds)
	require.Len(t, got.Groups, 2)
	require.Equal(t, "m-1", got.Groups[0].ModelVersion)
	require.Equal(t, "A", got.Groups[0].Arm)
	require.InDelta(t, 0.25, got.Groups[0].PurchaseFollowRate, 1e-12)
	require.InDelta(t, 9.5, got.Groups[0].Revenue, 1e-12)
	b := got.Groups[1]
	require.Equal(t, uint64(100), b.Clicks)
	require.Equal(t, uint64(30), b.ClicksFollowed)
	require.InDelta(t, 0.3, b.ClickFollowRate, 1e-12)
	require.InDelta(t, 0.2189, b.ClickFollowCI[0], 1e-4)
	require.Equal(t, [2]float64{0, 1}, b.PurchaseFollowCI, "nothing eligible")
	require.Equal(t, 0.0, a.summary(-1).WindowSeconds, "off")
}

// BenchmarkPartitionAttribution is a partition applying the synthetic
// shop's events, 500 a batch, with attribution on (the default 30m
// window) and off: what keeping the exposures and counting costs per
// event, apart from the broker.
func BenchmarkPartitionAttribution(b *testing.B) {
	shop := synth.NewShop(1)
	evs := synth.Stream(shop.Sessions(5, synth.SessionConfig{Users: 500, Sessions: 4000}))
	for _, c := range []struct {
		name   string
		window time.Duration
	}{{"off", 0}, {"on", 30 * time.Minute}} {
		b.Run(c.name, func(b *testing.B) {
			db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
			require.NoError(b, err)
			defer func() { require.NoError(b, db.Close()) }()
			e, err := testEngine()
			require.NoError(b, err)
			p, err := newPartition(3, db, Sessionizer{}, topics.Limits{}, func() *Engine { return e })
			require.NoError(b, err)
			p.attrWindowMs = c.window.Milliseconds()
			recs := make([]Record, len(evs))
			for i, ev := range evs {
				te := topics.Event{Kind: topics.KindClick, UserID: ev.UserID, ItemID: ev.ItemID, Time: ev.Time}
				topic := topics.Clicks
				if ev.Purchase {
					te.Kind, te.Quantity, te.Price, topic = topics.KindPurchase, 1, 9.99, topics.Purchases
				}
				v, err := te.Encode()
				require.NoError(b, err)
				recs[i] = Record{Kind: te.Kind, Topic: topic, Partition: 3, Offset: int64(i), Key: []byte(ev.UserID), Value: v, Time: ev.Time}
			}
			now := evs[len(evs)-1].Time.Add(time.Hour)
			b.ResetTimer()
			n := 0
			for b.Loop() {
				if n+500 > len(recs) {
					b.StopTimer()
					require.NoError(b, db.DropPartition(3))
					p, err = newPartition(3, db, Sessionizer{}, topics.Limits{}, func() *Engine { return e })
					require.NoError(b, err)
					p.attrWindowMs = c.window.Milliseconds()
					n = 0
					b.StartTimer()
				}
				pd, err := p.process(recs[n:n+500], 0, now)
				require.NoError(b, err)
				require.NoError(b, p.commit(pd, false))
				n += 500
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/event")
		})
	}
}
