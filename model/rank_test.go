package model

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// plantedCatalog builds a model whose item vectors are planted ones (each
// item is id-only, so its vector is its token row) and its catalogue:
// topics a..e with 40 items each; item i of a topic costs 10*(i+1) and is
// of brand "b<i%2>".
func plantedCatalog(t testing.TB, n int) (*planted, *Catalog) {
	t.Helper()
	p := newPlanted(11)
	toks := NewVocab()
	var vecs [][]float32
	var items []Item
	for _, topic := range []string{"a", "b", "c", "d", "e"} {
		for i := range n {
			si := p.item(topic, i, 0)
			it := Item{ID: si.ID, Category: "shop." + topic, Brand: fmt.Sprintf("b%d", i%2), Price: float64(10 * (i + 1))}
			toks.Add("#" + it.ID)
			vecs = append(vecs, si.Vec)
			items = append(items, it)
		}
	}
	d := Dims{Name: p.dim}
	m := &Model{Dims: d, Tokens: toks, Categories: NewVocab(), Brands: NewVocab(), PriceScale: 1,
		In:  Tables{Tokens: make([]float32, toks.Len()*d.Name)},
		Ctx: Tables{Tokens: make([]float32, toks.Len()*d.Name)}}
	for i, v := range vecs {
		copy(m.In.Tokens[(i+1)*d.Name:], v)
	}
	c, err := NewCatalog(m, items, nil)
	require.NoError(t, err)
	for i, v := range vecs {
		u := slices.Clone(v)
		Normalize(u)
		require.InDeltaSlice(t, u, c.Vector(int32(i)), 1e-6, "row %d", i)
	}
	return p, c
}

func topicOf(id string) string { return id[:1] }

func sessionIntents(t testing.TB, c *Catalog, ids ...string) []Intent {
	t.Helper()
	det, err := NewIntentDetector(IntentConfig{})
	require.NoError(t, err)
	return det.Detect(c.SessionItems(ids, nil), nil)
}

func TestRankFromIntents(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	session := sessionIntents(t, c, "a-1", "a-2", "a-3", "b-1", "b-2")
	require.Len(t, session, 2)
	r, err := c.Rank(session, nil, RankOptions{K: 20})
	require.NoError(t, err)
	require.Len(t, r.Items, 20)
	byTopic := map[string]int{}
	ids := map[string]bool{}
	for i, it := range r.Items {
		byTopic[topicOf(it.ItemID)]++
		require.False(t, ids[it.ItemID], "item %s twice", it.ItemID)
		ids[it.ItemID] = true
		if i > 0 {
			require.LessOrEqual(t, it.Score, r.Items[i-1].Score, "scores descend")
		}
		// Every item names the intent it came from, and that intent is
		// the one of its topic.
		in := slices.IndexFunc(r.Intents, func(in Intent) bool { return in.ID == it.Intent })
		require.GreaterOrEqual(t, in, 0, "item %s credits unknown intent %q", it.ItemID, it.Intent)
		require.Equal(t, topicOf(it.ItemID), topicOf(r.Intents[in].Items[0]))
	}
	require.Equal(t, 20, byTopic["a"]+byTopic["b"], "got topics %v", byTopic)
	require.Positive(t, byTopic["b"], "the current intent is represented")
}

func TestRankMatchesScores(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	session := sessionIntents(t, c, "a-1", "c-2", "a-3", "c-5")
	r, err := c.Rank(session, nil, RankOptions{K: 15})
	require.NoError(t, err)
	dst, tmp := make([]float32, c.Len()), make([]float32, c.Len())
	require.NoError(t, c.Scores(session, nil, RankOptions{K: 15}, dst, tmp))
	order := make([]int32, c.Len())
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int {
		if dst[a] > dst[b] {
			return -1
		} else if dst[a] < dst[b] {
			return 1
		}
		return 0
	})
	for i, it := range r.Items {
		require.Equal(t, c.Item(order[i]).ID, it.ItemID, "position %d", i)
		require.InDelta(t, dst[order[i]], it.Score, 1e-6)
	}
}

// Repeat raises the session's items: the latest above every other item,
// each earlier one (once, however often seen) by Repeat, with Repeat
// saying so; the filter still excludes them. Rank and Scores agree.
func TestRankRepeat(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	recent := []string{"a-1", "a-2", "b-7", "a-1", "a-3"}
	session := sessionIntents(t, c, recent...)
	plain, err := c.Rank(session, nil, RankOptions{K: 200, Recent: recent})
	require.NoError(t, err)
	o := RankOptions{K: 200, Recent: recent, Repeat: 0.03}
	r, err := c.Rank(session, nil, o)
	require.NoError(t, err)
	require.Equal(t, "a-3", r.Items[0].ItemID, "the latest first")
	require.Equal(t, float32(1), r.Items[0].Repeat)
	before := map[string]float32{}
	for _, it := range plain.Items {
		before[it.ItemID] = it.Score
	}
	for _, it := range r.Items {
		switch it.ItemID {
		case "a-3":
		case "a-1", "a-2", "b-7":
			require.Equal(t, float32(0.03), it.Repeat, it.ItemID)
			if s, ok := before[it.ItemID]; ok {
				require.InDelta(t, s+0.03, it.Score, 1e-6, it.ItemID)
			}
		default:
			require.Zero(t, it.Repeat, it.ItemID)
			require.InDelta(t, before[it.ItemID], it.Score, 1e-6, it.ItemID)
		}
	}
	// An item of the session that no intent's search proposes is ranked
	// all the same.
	far, err := c.Rank(sessionIntents(t, c, "a-1", "a-2"), nil, RankOptions{K: 5, Recent: []string{"a-1", "a-2", "e-9"}, Repeat: 0.03})
	require.NoError(t, err)
	require.Equal(t, "e-9", far.Items[0].ItemID)
	require.Equal(t, float32(1), far.Items[0].Repeat)

	dst, tmp := make([]float32, c.Len()), make([]float32, c.Len())
	require.NoError(t, c.Scores(session, nil, o, dst, tmp))
	for _, it := range r.Items {
		row, _ := c.Row(it.ItemID)
		require.InDelta(t, dst[row], it.Score, 1e-6, it.ItemID)
	}

	o.Filter = Filter{Exclude: recent}
	r, err = c.Rank(session, nil, o)
	require.NoError(t, err)
	for _, it := range r.Items {
		require.NotContains(t, recent, it.ItemID, "excluded")
		require.Zero(t, it.Repeat)
	}
}

func TestRankFilters(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	session := sessionIntents(t, c, "a-1", "a-2", "a-3")
	cases := []struct {
		name   string
		filter Filter
		ok     func(Item) bool
	}{
		{"exclude seen", Filter{Exclude: []string{"a-1", "a-2", "a-3"}}, func(it Item) bool { return !slices.Contains([]string{"a-1", "a-2", "a-3"}, it.ID) }},
		{"category", Filter{Category: "shop.c"}, func(it Item) bool { return it.Category == "shop.c" }},
		{"category ancestor", Filter{Category: "SHOP"}, func(it Item) bool { return true }},
		{"brand", Filter{Brand: "B1"}, func(it Item) bool { return it.Brand == "b1" }},
		{"price range", Filter{MinPrice: 100, MaxPrice: 200}, func(it Item) bool { return it.Price >= 100 && it.Price <= 200 }},
		{"min price only", Filter{MinPrice: 350}, func(it Item) bool { return it.Price >= 350 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Rank(session, nil, RankOptions{K: 10, Filter: tc.filter})
			require.NoError(t, err)
			require.Len(t, r.Items, 10)
			for _, it := range r.Items {
				row, _ := c.Row(it.ItemID)
				require.True(t, tc.ok(c.Item(row)), "item %+v passes filter %+v", c.Item(row), tc.filter)
			}
		})
	}
	r, err := c.Rank(session, nil, RankOptions{K: 10, Filter: Filter{Category: "nope"}})
	require.NoError(t, err)
	require.Empty(t, r.Items)
}

func TestRankInvalidKnobs(t *testing.T) {
	_, c := plantedCatalog(t, 5)
	for _, o := range []RankOptions{
		{K: -1}, {K: MaxK + 1}, {Diversity: -0.1}, {Diversity: 1.5}, {Diversity: float32(math.NaN())},
		{History: -1}, {History: 2}, {HalfLife: -time.Hour}, {Repeat: -0.1}, {Repeat: 1.5}, {Repeat: float32(math.NaN())}, {Sequence: -1}, {Sequence: 2},
		{Filter: Filter{MinPrice: -1}}, {Filter: Filter{MinPrice: 5, MaxPrice: 2}}, {Filter: Filter{MaxPrice: math.NaN()}},
	} {
		_, err := c.Rank(nil, nil, o)
		require.Error(t, err, "%+v", o)
	}
}

func TestRankHistory(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	past := sessionIntents(t, c, "d-1", "d-2", "d-3")
	now := time.Unix(0, 0).Add(48 * time.Hour)
	for i := range past {
		past[i].LastSeen = time.Unix(0, 0)
	}
	session := sessionIntents(t, c, "a-1", "a-2")
	count := func(o RankOptions) (int, []Intent) {
		t.Helper()
		o.K, o.Now = 20, now
		r, err := c.Rank(session, past, o)
		require.NoError(t, err)
		n := 0
		for _, it := range r.Items {
			if topicOf(it.ItemID) == "d" {
				n++
			}
		}
		return n, r.Intents
	}
	none, intents := count(RankOptions{History: 0})
	require.Zero(t, none)
	require.Len(t, intents, 1, "a zero-weight past intent is dropped")
	some, intents := count(RankOptions{History: 0.9, HalfLife: 24 * time.Hour})
	require.Positive(t, some)
	require.True(t, intents[1].Past)
	require.InDelta(t, 1, intents[0].Weight+intents[1].Weight, 1e-6)
	// weights before scaling: 0.1 for the session, 0.9/4 for the
	// two-half-lives-old past intent
	require.InDelta(t, 0.9/4/(0.1+0.9/4), intents[1].Weight, 1e-5)
	faded, _ := count(RankOptions{History: 0.9, HalfLife: time.Hour})
	require.Less(t, faded, some, "a shorter half-life fades the past")
	only, _ := func() (int, []Intent) {
		r, err := c.Rank(nil, past, RankOptions{K: 20, History: 0.1, Now: now})
		require.NoError(t, err)
		return len(r.Items), r.Intents
	}()
	require.Equal(t, 20, only, "without a session the past intents rank alone")

	// History 1 is all the weight on the past when there is one, and on
	// the session when there is none.
	r, err := c.Rank(session, nil, RankOptions{K: 20, History: 1, Now: now})
	require.NoError(t, err)
	require.Len(t, r.Intents, 1)
	require.InDelta(t, 1, r.Intents[0].Weight, 1e-6)
	require.Len(t, r.Items, 20, "history 1 without a past ranks the session")
	allPast, intents := count(RankOptions{History: 1, HalfLife: 24 * time.Hour})
	require.Equal(t, 20, allPast)
	for _, in := range intents {
		require.True(t, in.Past)
	}

	// A past intent the session resumed (it carries the same ID) is not
	// listed twice.
	resumed := slices.Clone(session)
	resumed[0].ID = past[0].ID
	r, err = c.Rank(resumed, past, RankOptions{K: 20, History: 0.5, HalfLife: 24 * time.Hour, Now: now})
	require.NoError(t, err)
	ids := map[string]int{}
	for _, in := range r.Intents {
		ids[in.ID]++
	}
	require.Equal(t, 1, ids[past[0].ID], "intents: %+v", r.Intents)
	require.False(t, r.Intents[0].Past, "the session's intent carries it")
}

func TestRankDiversity(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	session := sessionIntents(t, c, "a-1", "a-2", "b-1", "c-1")
	spread := func(d float32) float64 {
		r, err := c.Rank(session, nil, RankOptions{K: 10, Diversity: d})
		require.NoError(t, err)
		require.Len(t, r.Items, 10)
		var sum float64
		var n int
		for i, x := range r.Items {
			for _, y := range r.Items[:i] {
				rx, _ := c.Row(x.ItemID)
				ry, _ := c.Row(y.ItemID)
				sum += float64(Dot(c.Vector(rx), c.Vector(ry)))
				n++
			}
		}
		return sum / float64(n)
	}
	low, high := spread(0), spread(0.8)
	t.Logf("mean pairwise cosine: diversity 0 %.3f, 0.8 %.3f", low, high)
	require.Less(t, high, low)
}

func TestEncodeStaysInDst(t *testing.T) {
	s := newShop(1, 200)
	m, err := Train(s.corpus, TrainConfig{Epochs: 1})
	require.NoError(t, err)
	buf := make([]float32, 3*m.Dims.Total())
	for i := range buf {
		buf[i] = 7
	}
	m.Encode(s.items[0], buf[:m.Dims.Total()])
	for _, x := range buf[m.Dims.Total():] {
		require.Equal(t, float32(7), x, "Encode wrote past len(dst)")
	}
}

func BenchmarkRank(b *testing.B) {
	// One session's intents ranked over 100k items with the exact index and
	// the IVF index, without and with diversity.
	s := newShop(1, 3000)
	m, err := Train(s.corpus, TrainConfig{Epochs: 2, Seed: 1})
	require.NoError(b, err)
	items := make([]Item, 100_000)
	for i := range items {
		it := s.items[i%len(s.items)]
		it.ID = fmt.Sprintf("%s-%d", it.ID, i)
		it.Name = fmt.Sprintf("%s v%d", it.Name, i%977)
		it.Price *= 1 + float64(i%101)/100
		items[i] = it
	}
	for _, ix := range []struct {
		name  string
		build IndexBuilder
	}{
		{"exact", nil},
		{"ivf", func(dim int, v []float32) (Index, error) { return NewIVFIndex(dim, v, IVFConfig{Workers: 2}) }},
	} {
		cat, err := NewCatalog(m, items, ix.build)
		require.NoError(b, err)
		det, _ := NewIntentDetector(IntentConfig{})
		ids := []string{items[0].ID, items[1].ID, items[2].ID, items[40].ID, items[41].ID, items[90].ID}
		b.Run("n=100k/"+ix.name, func(b *testing.B) {
			for b.Loop() {
				intents := det.Detect(cat.SessionItems(ids, nil), nil)
				if _, err := cat.Rank(intents, nil, RankOptions{K: 20, Filter: Filter{Exclude: ids}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		// With the neighbourhood term over the shop's training sessions
		// (each corpus item stands for the catalogue item of its row).
		nm := *m
		nm.Sessions = NewSessionLog(Corpus{Items: items[:len(s.corpus.Items)], Sessions: s.corpus.Sessions}, 0)
		ncat, err := NewCatalog(&nm, items, ix.build)
		require.NoError(b, err)
		b.Run("n=100k/"+ix.name+"/neighbours", func(b *testing.B) {
			for b.Loop() {
				intents := det.Detect(ncat.SessionItems(ids, nil), nil)
				if _, err := ncat.Rank(intents, nil, RankOptions{K: 20, Neighbours: DefaultNeighbours, Recent: ids, Filter: Filter{Exclude: ids}}); err != nil {
					b.Fatal(err)
				}
			}
		})
		// As the processor ranks: the neighbourhood term, the sequential
		// rules and repeat (excluded seen items leave repeat nothing).
		b.Run("n=100k/"+ix.name+"/processor", func(b *testing.B) {
			for b.Loop() {
				intents := det.Detect(ncat.SessionItems(ids, nil), nil)
				o := RankOptions{K: 20, Neighbours: DefaultNeighbours, Sequence: DefaultSequence, Repeat: DefaultRepeat, Recent: ids, Filter: Filter{Exclude: ids}}
				if _, err := ncat.Rank(intents, nil, o); err != nil {
					b.Fatal(err)
				}
			}
		})
		// As the processor ranks, over 1,000 sessions of 6 random items
		// in turn rather than one: their rows and lists are mostly not in
		// cache, and they hold more intents.
		rng := rand.New(rand.NewPCG(1, 2))
		sessions := make([][]string, 1000)
		for i := range sessions {
			for range 6 {
				sessions[i] = append(sessions[i], items[rng.IntN(len(items))].ID)
			}
		}
		b.Run("n=100k/"+ix.name+"/processor/sessions=1000", func(b *testing.B) {
			i := 0
			for b.Loop() {
				ids := sessions[i%len(sessions)]
				i++
				intents := det.Detect(ncat.SessionItems(ids, nil), nil)
				o := RankOptions{K: 20, Neighbours: DefaultNeighbours, Sequence: DefaultSequence, Repeat: DefaultRepeat, Recent: ids, Filter: Filter{Exclude: ids}}
				if _, err := ncat.Rank(intents, nil, o); err != nil {
					b.Fatal(err)
				}
			}
		})
		// With diversity, at the query API's default work cap (K 50).
		b.Run("n=100k/"+ix.name+"/diversity", func(b *testing.B) {
			for b.Loop() {
				intents := det.Detect(cat.SessionItems(ids, nil), nil)
				if _, err := cat.Rank(intents, nil, RankOptions{K: 50, Diversity: 0.5, Filter: Filter{Exclude: ids}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// RankContext looks at its context before each intent's search and each
// pick by diversity: a ranking whose context ends stops at the next of
// these and returns the context's error.
func TestRankContextStops(t *testing.T) {
	for _, tc := range []struct {
		name      string
		diversity float32
		// cancelAt cancels the context in the n-th search (1-based); 0
		// cancels before the ranking starts, -1 never.
		cancelAt     int
		wantSearches int
		wantErr      bool
	}{
		{name: "not cancelled", cancelAt: -1, wantSearches: 2},
		{name: "cancelled before", cancelAt: 0, wantSearches: 0, wantErr: true},
		{name: "cancelled in the first intent's search", cancelAt: 1, wantSearches: 1, wantErr: true},
		{name: "cancelled in the last search, nothing left to do", cancelAt: 2, wantSearches: 2},
		{name: "cancelled in the last search, diversity left to do", diversity: 0.5, cancelAt: 2, wantSearches: 2, wantErr: true},
		{name: "diversity, not cancelled", diversity: 0.5, cancelAt: -1, wantSearches: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, hook := hookedShop(t)
			intents := append(topicIntent(c, s, 0), topicIntent(c, s, 1)...)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.cancelAt == 0 {
				cancel()
			}
			searches := 0
			hook.onSearch = func() {
				if searches++; searches == tc.cancelAt {
					cancel()
				}
			}
			r, err := c.RankContext(ctx, intents, nil, RankOptions{K: 10, Diversity: tc.diversity})
			if got := searches; got != tc.wantSearches {
				t.Errorf("got %d searches, want %d", got, tc.wantSearches)
			}
			if !tc.wantErr {
				require.NoError(t, err)
				require.Len(t, r.Items, 10)
				return
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("got error %v, want context.Canceled", err)
			}
		})
	}
}

func TestRankWork(t *testing.T) {
	for _, tc := range []struct {
		o                   RankOptions
		wantCands, wantWork int
	}{
		{RankOptions{}, 10, 0},
		{RankOptions{K: 1000}, 1000, 0},
		{RankOptions{Diversity: 0.5}, 30, 300},
		{RankOptions{K: 5, Diversity: 1}, 25, 125},
		{RankOptions{K: 100, Diversity: 0.1}, 300, 30_000},
		{RankOptions{K: 1000, Diversity: 1}, 3000, 3_000_000},
	} {
		t.Run(fmt.Sprintf("k=%d,diversity=%g", tc.o.K, tc.o.Diversity), func(t *testing.T) {
			if got := tc.o.Candidates(); got != tc.wantCands {
				t.Errorf("Candidates: got %d, want %d", got, tc.wantCands)
			}
			if got := tc.o.Work(); got != tc.wantWork {
				t.Errorf("Work: got %d, want %d", got, tc.wantWork)
			}
		})
	}
}

// mmrReference is maximal marginal relevance as plainly written: every
// candidate not picked, in order, against every pick. The cosines come
// from the kernel mmr uses (dots), whose sums may differ from Dot's in the
// last bit, so that near-ties go the same way.
func mmrReference(c *Catalog, order []int, cands []candidate, k int, d float32) []int {
	top := cands[order[0]].score
	if top <= 0 {
		top = 1
	}
	all := make([]float32, 0, len(cands)*c.dim)
	for _, cd := range cands {
		all = append(all, c.Vector(cd.row)...)
	}
	cos := make([][]float32, len(cands))
	for i, cd := range cands {
		cos[i] = make([]float32, len(cands))
		dots(c.Vector(cd.row), all, c.dim, cos[i])
	}
	var picked []int
	used := make([]bool, len(order))
	for len(picked) < k && len(picked) < len(order) {
		bi, bv := -1, float32(math.Inf(-1))
		for j, ci := range order {
			if used[j] {
				continue
			}
			sim := float32(0)
			if len(picked) > 0 {
				sim = -1
				for _, p := range picked {
					sim = max(sim, cos[p][ci])
				}
			}
			if x := (1-d)*cands[ci].score/top - d*sim; x > bv {
				bi, bv = j, x
			}
		}
		used[bi] = true
		picked = append(picked, order[bi])
	}
	return picked
}

// The diversity step picks what the plain algorithm picks.
func TestMMRMatchesReference(t *testing.T) {
	_, c := plantedCatalog(t, 40)
	session := sessionIntents(t, c, "a-1", "a-2", "b-1", "c-1", "d-3")
	for _, k := range []int{1, 5, 20, 60} {
		for _, d := range []float32{0.1, 0.5, 1} {
			t.Run(fmt.Sprintf("k=%d,d=%g", k, d), func(t *testing.T) {
				o := RankOptions{K: k, Diversity: d}
				require.NoError(t, o.fill())
				// The candidates as Rank gathers them, best first.
				var cands []candidate
				for _, in := range o.weigh(session, nil) {
					for _, h := range c.index.Search(in.Centroid, o.Candidates(), nil, nil) {
						if !slices.ContainsFunc(cands, func(cd candidate) bool { return cd.row == h.Row }) {
							cands = append(cands, candidate{row: h.Row, score: in.Weight * h.Score})
						}
					}
				}
				order := make([]int, len(cands))
				for i := range order {
					order[i] = i
				}
				slices.SortStableFunc(order, func(a, b int) int {
					return -cmp.Compare(cands[a].score, cands[b].score)
				})
				c.mu.RLock()
				v := c.view()
				c.mu.RUnlock()
				got, err := v.mmr(t.Context(), order, cands, k, d)
				require.NoError(t, err)
				want := mmrReference(c, order, cands, k, d)
				if !slices.Equal(got, want) {
					t.Errorf("got picks %v, want %v", got, want)
				}
			})
		}
	}
}

// Without diversity, the search of an intent that weighs less than the
// K-th best score found so far is skipped; the ranking is still the dense
// one's (Scores), item for item and score for score, with and without the
// neighbourhood term, the sequential rules and repeat, for sessions of one
// to four intents of every balance.
func TestRankSkipsLightIntents(t *testing.T) {
	s, c, hook := loggedShop(t)
	searches := 0
	hook.onSearch = func() { searches++ }

	heavy, light := topicIntent(c, s, 0)[0], topicIntent(c, s, 1)[0]
	heavy.Weight, light.Weight = 0.9, 0.1
	_, err := c.Rank([]Intent{light, heavy}, nil, RankOptions{K: 10})
	require.NoError(t, err)
	require.Equal(t, 1, searches, "the light intent's search is skipped")
	searches = 0
	_, err = c.Rank([]Intent{light, heavy}, nil, RankOptions{K: 10, Diversity: 0.5})
	require.NoError(t, err)
	require.Equal(t, 2, searches, "diversity searches every intent")

	rng := rand.New(rand.NewPCG(3, 4))
	skipped := 0
	dst, tmp := make([]float32, c.Len()), make([]float32, c.Len())
	order := make([]int32, c.Len())
	for trial := range 300 {
		var ids []string
		for range 1 + rng.IntN(4) {
			topic := s.byTopic[rng.IntN(len(s.byTopic))]
			for range 1 + rng.IntN(4) {
				ids = append(ids, s.items[topic[rng.IntN(len(topic))]].ID)
			}
		}
		session := sessionIntents(t, c, ids...)
		o := RankOptions{K: []int{5, 10, 20}[trial%3], Recent: ids}
		if trial%2 == 1 {
			o.Repeat, o.Sequence, o.Neighbours = DefaultRepeat, DefaultSequence, DefaultNeighbours
		}
		searches = 0
		r, err := c.Rank(session, nil, o)
		require.NoError(t, err)
		if searches < len(session) {
			skipped++
		}
		require.NoError(t, c.Scores(session, nil, o, dst, tmp))
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(dst[b], dst[a]) })
		require.Len(t, r.Items, o.K)
		for i, it := range r.Items {
			// Rank and Scores score with the same kernel (dots), so the
			// scores are equal to the bit, and so are the items, ties
			// going to the lower row in both.
			require.Equal(t, dst[order[i]], it.Score, "trial %d (%v), position %d", trial, ids, i)
			require.Equal(t, c.Item(order[i]).ID, it.ItemID, "trial %d (%v), position %d", trial, ids, i)
		}
	}
	t.Logf("%d of 300 rankings skipped a search", skipped)
	require.Positive(t, skipped, "some rankings skip a search")
}

// loggedShop is hookedShop with the shop's sessions logged in the model,
// for the neighbourhood term and the sequential rules.
func loggedShop(t *testing.T) (*shop, *Catalog, *hookIndex) {
	t.Helper()
	s := newShop(1, 3000)
	m, err := Train(s.corpus, TrainConfig{Epochs: 5, Seed: 1, Workers: 1})
	require.NoError(t, err)
	m.Sessions = NewSessionLog(s.corpus, 0)
	var hook *hookIndex
	c, err := NewCatalog(m, slices.Clone(s.items), func(dim int, v []float32) (Index, error) {
		x, err := NewExactIndex(dim, v)
		hook = &hookIndex{Index: x}
		return hook, err
	})
	require.NoError(t, err)
	return s, c, hook
}

// Intents of another dimension (past intents kept across a model of
// another size) can credit no item: the neighbourhood term, the sequential
// rules and repeat propose none, and the ranking is empty, not a panic.
func TestRankIntentsOfAnotherDimension(t *testing.T) {
	s, c, _ := loggedShop(t)
	recent := []string{s.items[s.byTopic[0][0]].ID, s.items[s.byTopic[0][1]].ID}
	stale := []Intent{{ID: "old", Items: recent, Centroid: make([]float32, c.Dim()+4), Weight: 1}}
	stale[0].Centroid[0] = 1
	o := RankOptions{K: 10, Recent: recent, Neighbours: DefaultNeighbours, Sequence: DefaultSequence, Repeat: DefaultRepeat}
	r, err := c.Rank(nil, stale, o)
	require.NoError(t, err)
	require.Empty(t, r.Items)
}

// rowSlots holds what a map would, through growth and reuse, for rows
// spread over the catalogue and rows that share their low bits.
func TestRowSlots(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var slots rowSlots
	for trial := range 50 {
		want := rng.IntN(100)
		slots.reset(want)
		ref := map[int32]int{}
		for op := range rng.IntN(2000) {
			row := int32(rng.IntN(1 << 20))
			if trial%2 == 1 {
				row = int32(rng.IntN(64)) << 12
			}
			if op%3 == 0 {
				slots.put(row, op)
				ref[row] = op
			}
			v, ok := slots.get(row)
			rv, rok := ref[row]
			require.Equal(t, rok, ok, "row %d", row)
			require.Equal(t, rv, v, "row %d", row)
		}
		require.Equal(t, len(ref), slots.n)
		for row, rv := range ref {
			v, ok := slots.get(row)
			require.True(t, ok)
			require.Equal(t, rv, v)
		}
	}
}
