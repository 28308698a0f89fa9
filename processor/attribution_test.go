package processor

import (
	"math"
	"slices"
	"testing"
	"time"

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

// expose keeps the newest exposures within the window, at most
// store.MaxExposedItems items.
func TestExposeBounds(t *testing.T) {
	s := &store.UserState{}
	var b attrBatch
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec := func(at time.Time, n int, version string) *topics.Recommendation {
		r := &topics.Recommendation{ModelVersion: version, Source: topics.Source{EventTime: at}}
		for i := range n {
			r.Items = append(r.Items, topics.RecommendedItem{ItemID: version + "-" + string(rune('a'+i))})
		}
		return r
	}
	for i := range 10 {
		expose(s, rec(at.Add(time.Duration(i)*time.Minute), 10, string(rune('0'+i))), (30 * time.Minute).Milliseconds(), &b)
	}
	items := 0
	for _, x := range s.Exposures {
		items += len(x.Items)
	}
	require.Equal(t, store.MaxExposedItems, items)
	require.Equal(t, "9", s.Exposures[0].Version, "newest first")
	require.Len(t, s.Exposures, 7)
	require.Len(t, s.Exposures[6].Items, 4, "the oldest kept is cut")
	require.Equal(t, uint64(10), func() uint64 {
		var n uint64
		for _, c := range b {
			n += c.exposed
		}
		return n
	}())

	// An hour later, the older ones are out of the window and dropped.
	expose(s, rec(at.Add(time.Hour), 3, "x"), (30 * time.Minute).Milliseconds(), &b)
	require.Len(t, s.Exposures, 1)
	// A record without a source event exposes nothing, but is counted.
	expose(s, rec(time.Time{}, 3, "y"), (30 * time.Minute).Milliseconds(), &b)
	require.Len(t, s.Exposures, 1)
	require.Equal(t, uint64(1), b[attrKey{"y", ""}].exposed)
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
