package processor

import (
	"cmp"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// Attribution: whether the users follow the recommendations, measured
// online, per model version and A/B arm.
//
// Every published record of a user is an exposure: its items, stamped
// with the record's source.event_time (the event time of the user's event
// that caused it; a record with none, published because the watermark
// closed a session, exposes nothing), its model version and the user's
// arm. The user's state keeps the latest exposure alone, as a page shows
// the latest recommendations (its first store.MaxExposedItems items): a
// record replaces the one before. A later click or purchase of the user
// at event time t is eligible when the exposure has t-window <= at <= t,
// and followed when it also holds the event's item. (Keeping the items
// of every record in the window made the user states, read and written
// at every event, larger by up to 64 items: about 10% of sessionrec
// bench's throughput; the latest alone costs nothing measurable.) The
// counts are made in the batch that applies the event and counted once it
// is committed, like the other metrics, so a batch read again counts once.

// attrKey is a model version and an arm.
type attrKey struct{ version, arm string }

// attrCounts are the attribution counts of one model version and arm.
type attrCounts struct {
	// exposed counts published records.
	exposed uint64
	// clicks and purchases count the events that had an exposure in the
	// window before them; the followed ones were of an exposed item.
	clicks, clicksFollowed       uint64
	purchases, purchasesFollowed uint64
	// revenue sums price times quantity of the followed purchases.
	revenue float64
}

func (c *attrCounts) add(o *attrCounts) {
	c.exposed += o.exposed
	c.clicks += o.clicks
	c.clicksFollowed += o.clicksFollowed
	c.purchases += o.purchases
	c.purchasesFollowed += o.purchasesFollowed
	c.revenue += o.revenue
}

// attrBatch are a batch's counts.
type attrBatch map[attrKey]*attrCounts

func (b *attrBatch) of(version, arm string) *attrCounts {
	if *b == nil {
		*b = attrBatch{}
	}
	k := attrKey{version, arm}
	c := (*b)[k]
	if c == nil {
		c = &attrCounts{}
		(*b)[k] = c
	}
	return c
}

// attribute counts an applied event of a user whose state is s against
// the user's exposure (expose keeps the latest alone).
func attribute(s *store.UserState, e topics.Event, windowMs int64, b *attrBatch) {
	if len(s.Exposures) == 0 {
		return
	}
	x, t := &s.Exposures[0], e.Time.UnixMilli()
	if x.AtMs > t || t-x.AtMs > windowMs {
		return
	}
	followed := slices.Contains(x.Items, e.ItemID)
	c := b.of(x.Version, x.Arm)
	switch e.Kind {
	case topics.KindPurchase:
		c.purchases++
		if followed {
			c.purchasesFollowed++
			c.revenue += e.Price * float64(e.Quantity)
		}
	default:
		c.clicks++
		if followed {
			c.clicksFollowed++
		}
	}
}

// expose records a published record as the user's exposure, in place of
// the one before, and counts it. A record without a source event or
// without items exposes nothing and leaves the exposure before it.
func expose(s *store.UserState, rec *topics.Recommendation, b *attrBatch) {
	b.of(rec.ModelVersion, rec.Arm).exposed++
	if rec.Source.EventTime.IsZero() || len(rec.Items) == 0 {
		return
	}
	items := rec.Items[:min(len(rec.Items), store.MaxExposedItems)]
	x := store.Exposure{AtMs: rec.Source.EventTime.UnixMilli(), Version: rec.ModelVersion, Arm: rec.Arm, Items: make([]string, len(items))}
	for i, it := range items {
		x.Items[i] = it.ItemID
	}
	if len(s.Exposures) == 1 {
		s.Exposures[0] = x
		return
	}
	s.Exposures = []store.Exposure{x}
}

// attribution sums the committed batches' counts since the instance
// started, for GET /v1/attribution. It is safe for concurrent use.
type attribution struct {
	mu    sync.Mutex
	since time.Time
	by    map[attrKey]*attrCounts
}

func newAttribution(now time.Time) *attribution {
	return &attribution{since: now, by: map[attrKey]*attrCounts{}}
}

// add adds a committed batch's counts.
func (a *attribution) add(b attrBatch) {
	if len(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range b {
		sum := a.by[k]
		if sum == nil {
			sum = &attrCounts{}
			a.by[k] = sum
		}
		sum.add(c)
	}
}

// AttributionResponse is the answer of GET /v1/attribution: this
// instance's counts since it started, by model version and arm.
type AttributionResponse struct {
	// WindowSeconds is --attribution-window; 0 when attribution is off.
	WindowSeconds float64 `json:"window_seconds"`
	// Confidence is the level of the intervals (0.95).
	Confidence float64 `json:"confidence"`
	// Since is when the instance started counting.
	Since time.Time `json:"since"`
	// Groups are the model versions and arms seen, by version then arm.
	Groups []AttributionGroup `json:"groups"`
}

// AttributionGroup are the counts of one model version and arm, and the
// follow rates with their Wilson score intervals ([0, 1] when nothing was
// eligible).
type AttributionGroup struct {
	ModelVersion string `json:"model_version"`
	Arm          string `json:"arm"`
	// Exposed counts the records published.
	Exposed uint64 `json:"exposed"`
	// Clicks counts the clicks that had an exposure in the window before
	// them; ClicksFollowed those of an exposed item.
	Clicks          uint64     `json:"clicks"`
	ClicksFollowed  uint64     `json:"clicks_followed"`
	ClickFollowRate float64    `json:"click_follow_rate"`
	ClickFollowCI   [2]float64 `json:"click_follow_ci"`
	// Purchases and PurchasesFollowed are the same of purchases.
	Purchases          uint64     `json:"purchases"`
	PurchasesFollowed  uint64     `json:"purchases_followed"`
	PurchaseFollowRate float64    `json:"purchase_follow_rate"`
	PurchaseFollowCI   [2]float64 `json:"purchase_follow_ci"`
	// Revenue is the sum of price times quantity of the followed
	// purchases.
	Revenue float64 `json:"revenue"`
}

// attributionZ is the normal quantile of the intervals' 95%.
const attributionZ = 1.959963984540054

// summary returns the counts as the API answers them.
func (a *attribution) summary(window time.Duration) AttributionResponse {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := AttributionResponse{WindowSeconds: max(window, 0).Seconds(), Confidence: 0.95, Since: a.since.UTC(), Groups: []AttributionGroup{}}
	for k, c := range a.by {
		g := AttributionGroup{ModelVersion: k.version, Arm: k.arm, Exposed: c.exposed,
			Clicks: c.clicks, ClicksFollowed: c.clicksFollowed, Purchases: c.purchases, PurchasesFollowed: c.purchasesFollowed, Revenue: c.revenue}
		g.ClickFollowRate, g.ClickFollowCI = wilson(c.clicksFollowed, c.clicks)
		g.PurchaseFollowRate, g.PurchaseFollowCI = wilson(c.purchasesFollowed, c.purchases)
		out.Groups = append(out.Groups, g)
	}
	slices.SortFunc(out.Groups, func(x, y AttributionGroup) int {
		return cmp.Or(cmp.Compare(x.ModelVersion, y.ModelVersion), cmp.Compare(x.Arm, y.Arm))
	})
	return out
}

// wilson returns the proportion k/n and its Wilson score interval at
// attributionZ: unlike the normal approximation, it stays within [0, 1]
// and is honest for small n and for rates near 0 or 1.
func wilson(k, n uint64) (float64, [2]float64) {
	if n == 0 {
		return 0, [2]float64{0, 1}
	}
	p, fn, z2 := float64(k)/float64(n), float64(n), attributionZ*attributionZ
	centre := (p + z2/(2*fn)) / (1 + z2/fn)
	half := attributionZ / (1 + z2/fn) * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn))
	return p, [2]float64{max(centre-half, 0), min(centre+half, 1)}
}

// apiAttribution answers GET /v1/attribution.
func (qa *queryAPI) apiAttribution(r *http.Request) (any, error) {
	q := &query{v: r.URL.Query()}
	q.checkKnown(nil)
	if q.err != nil {
		return nil, q.err
	}
	return qa.attr.summary(qa.cfg.AttributionWindow), nil
}
