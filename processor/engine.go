package processor

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"slices"
	"time"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// Knobs are the ranking settings of the recommendations the processor
// publishes, and the query API's defaults. Start from DefaultKnobs: a zero
// field means zero, except K and HalfLife, which are taken from
// DefaultKnobs when zero.
type Knobs struct {
	// K is the number of items per record.
	K int
	// Diversity in [0, 1]: maximal marginal relevance.
	Diversity float64
	// History in [0, 1]: weight of past sessions' intents; 0 ranks by the
	// current session alone (past intents still serve a user without one).
	History float64
	// HalfLife of past intents.
	HalfLife time.Duration
	// Neighbours in [0, 1] is the weight of the neighbourhood term
	// (model.RankOptions.Neighbours); 0 ranks by the vectors alone.
	Neighbours float64
	// ExcludeSeen drops items of the current session.
	ExcludeSeen bool
	// KeepPurchased keeps items the user bought in the current session;
	// by default they are excluded.
	KeepPurchased bool
}

// DefaultKnobs are the knobs of an engine given none: 10 items, no
// diversity, history 0.3 with a half-life of 24h, the neighbourhood term at
// model.DefaultNeighbours, seen items kept, purchased ones excluded. run's
// flags start from these but exclude seen items (--exclude-seen defaults
// to true).
func DefaultKnobs() Knobs {
	return Knobs{K: 10, History: 0.3, HalfLife: 24 * time.Hour, Neighbours: model.DefaultNeighbours}
}

func (k *Knobs) fill() {
	d := DefaultKnobs()
	if k.K == 0 {
		k.K = d.K
	}
	if k.HalfLife == 0 {
		k.HalfLife = d.HalfLife
	}
}

// Engine is what the processor recommends with: a catalogue encoded by a
// trained model, the intent detector and the knobs. It is safe for
// concurrent use; its catalogue changes as items arrive and are withdrawn
// (model.Catalog), everything else is fixed: a new model means a new
// Engine.
type Engine struct {
	version  string
	catalog  *model.Catalog
	detector *model.IntentDetector
	knobs    Knobs
	// arms, on the engine served with an A/B split, are the arms'
	// engines (ab.go); nil without one.
	arms *armEngines
	// fallback, on the copy of an arm's engine that serves the other
	// arm's users while that arm has none, counts each ranking as that
	// arm's fallback; nil on every other engine.
	fallback func()
}

// NewEngine encodes the catalogue items with m and builds the engine. An
// empty version is replaced by the model's digest.
func NewEngine(m *model.Model, items []model.Item, build model.IndexBuilder, ic model.IntentConfig, knobs Knobs) (*Engine, error) {
	if m == nil {
		return nil, errors.New("processor: engine without a model")
	}
	cat, err := model.NewCatalog(m, items, build)
	if err != nil {
		return nil, err
	}
	det, err := model.NewIntentDetector(ic)
	if err != nil {
		return nil, err
	}
	knobs.fill()
	if _, err := cat.Rank(nil, nil, knobs.rankOptions(time.Time{}, nil)); err != nil {
		return nil, err
	}
	v := m.Info.Version
	if v == "" {
		v = m.Digest()
	}
	return &Engine{version: v, catalog: cat, detector: det, knobs: knobs}, nil
}

// Version returns the model version.
func (e *Engine) Version() string { return e.version }

// Knows reports whether the catalogue holds the item.
//
// A withdrawn item is not known: its events are dead letters, the same
// before and after the next engine build or restart (which leave it out).
func (e *Engine) Knows(itemID string) bool { return e.catalog.Live(itemID) }

func (k Knobs) rankOptions(now time.Time, exclude []string) model.RankOptions {
	return model.RankOptions{K: k.K, Diversity: float32(k.Diversity), History: float32(k.History), HalfLife: k.HalfLife, Now: now,
		Neighbours: float32(k.Neighbours), Repeat: model.DefaultRepeat, Sequence: model.DefaultSequence, Filter: model.Filter{Exclude: exclude}}
}

// Intents returns the intents of a user's session: its events cur, and the
// intents kept from the user's past sessions, which a session intent
// resumes (takes the ID of) when it is about the same thing
// (model.IntentConfig.Resume).
func (e *Engine) Intents(cur []store.Event, past []store.PastIntent) []model.Intent {
	ids := make([]string, len(cur))
	for i, ev := range cur {
		ids[i] = ev.ItemID
	}
	items := e.catalog.SessionItems(ids, nil)
	for i := range items {
		items[i].Time = time.UnixMilli(cur[i].TimeMs)
	}
	return e.detector.Detect(items, pastIntents(past))
}

// Recommend ranks for a user's current-session intents and past intents.
func (e *Engine) Recommend(s *store.UserState, cur []store.Event, session []model.Intent, now time.Time) (model.Ranking, error) {
	return e.rank(context.Background(), s, cur, session, now, e.knobs, model.Filter{})
}

// rank ranks with knobs k and filter f, to which it adds the items of the
// current session that k excludes (seen, or purchased). It stops with
// ctx's error when ctx ends (model.Catalog.RankContext).
func (e *Engine) rank(ctx context.Context, s *store.UserState, cur []store.Event, session []model.Intent, now time.Time, k Knobs, f model.Filter) (model.Ranking, error) {
	if e.fallback != nil {
		e.fallback()
	}
	for _, ev := range cur {
		if k.ExcludeSeen || (ev.Kind == store.Purchase && !k.KeepPurchased) {
			f.Exclude = append(f.Exclude, ev.ItemID)
		}
	}
	o := k.rankOptions(now, nil)
	o.Filter = f
	for _, ev := range cur {
		o.Recent = append(o.Recent, ev.ItemID)
	}
	return e.catalog.RankContext(ctx, session, pastIntents(s.Past), o)
}

// pastIntents converts the store's kept intents for the ranker.
func pastIntents(p []store.PastIntent) []model.Intent {
	out := make([]model.Intent, len(p))
	for i, x := range p {
		out[i] = model.Intent{ID: x.ID, Items: x.Items, Centroid: x.Centroid, Coherence: x.Coherence,
			Weight: x.Weight, LastSeen: time.UnixMilli(x.LastSeenMs), Past: true}
	}
	return out
}

// keepIntents converts a closed session's intents for the store.
func keepIntents(in []model.Intent) []store.PastIntent {
	out := make([]store.PastIntent, len(in))
	for i, x := range in {
		out[i] = store.PastIntent{ID: x.ID, Items: x.Items, Centroid: x.Centroid, Coherence: x.Coherence,
			Weight: x.Weight, LastSeenMs: x.LastSeen.UnixMilli()}
	}
	return out
}

// signature hashes what a user's intents are made of (IDs and members, in
// order, and which are past): a changed signature is what makes the
// processor publish. It is never 0 for a non-empty set.
func signature(session []model.Intent, past []store.PastIntent) uint64 {
	if len(session) == 0 && len(past) == 0 {
		return 0
	}
	h := fnv.New64a()
	put := func(s string) {
		_, _ = h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		_, _ = h.Write([]byte(s))
	}
	for _, in := range session {
		put(in.ID)
		for _, it := range in.Items {
			put(it)
		}
		put("|")
	}
	put("past")
	for _, p := range past {
		put(p.ID)
		for _, it := range p.Items {
			put(it)
		}
		put("|")
	}
	return max(1, h.Sum64())
}

// record builds the published record, with the knobs k and filter f it was
// ranked with.
func (e *Engine) record(userID string, s *store.UserState, r model.Ranking, src topics.Source, now time.Time, k Knobs, f model.Filter) topics.Recommendation {
	rec := topics.Recommendation{
		UserID: userID, SessionID: s.SessionID, ModelVersion: e.version, Source: src, ProducedAt: now,
		Knobs: topics.Knobs{K: k.K, Diversity: k.Diversity, History: k.History, Neighbours: k.Neighbours,
			HalfLifeSeconds: k.HalfLife.Seconds(), ExcludeSeen: k.ExcludeSeen, ExcludePurchased: !k.KeepPurchased,
			Category: f.Category, Brand: f.Brand, MinPrice: f.MinPrice, MaxPrice: f.MaxPrice},
	}
	for _, in := range r.Intents {
		rec.Intents = append(rec.Intents, topicIntent(in))
	}
	for _, it := range r.Items {
		rec.Items = append(rec.Items, topics.RecommendedItem{ItemID: it.ItemID, Score: float64(it.Score), Intent: it.Intent,
			Vector: float64(it.Vector), Neighbours: float64(it.Neighbours), Sequence: float64(it.Sequence), Repeat: float64(it.Repeat)})
	}
	return rec
}

// topicIntent is an intent as the records and the query API write it.
func topicIntent(in model.Intent) topics.Intent {
	return topics.Intent{ID: in.ID, Items: slices.Clone(in.Items), Coherence: float64(in.Coherence),
		Weight: float64(in.Weight), Current: in.Current, Past: in.Past}
}
