package model

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// votes scores session against sessions with cfg and returns every
// item's score.
func votes(t *testing.T, sessions [][]int32, n int, cfg NeighbourConfig, session ...int32) []float32 {
	t.Helper()
	nb, err := NewNeighbours(sessions, n, cfg)
	require.NoError(t, err)
	dst := make([]float32, n)
	sc := nb.NewScratch()
	best := nb.Score(session, dst, sc)
	require.Equal(t, slices.Max(dst), best)
	var touched []int32
	for y, v := range dst {
		if v > 0 {
			touched = append(touched, int32(y))
		}
	}
	slices.Sort(sc.Touched)
	require.Equal(t, touched, sc.Touched)
	return dst
}

func TestNeighboursVote(t *testing.T) {
	// Items 0..7. Sessions that hold item 0 vote for their other items;
	// the one without it votes for nothing.
	sessions := [][]int32{{0, 1}, {0, 2, 2}, {5, 6}, {0, 3, 4, 7}}
	s := votes(t, sessions, 8, NeighbourConfig{NoIDF: true, ItemDecay: -1}, 0)
	require.Zero(t, s[5])
	require.Zero(t, s[6])
	for _, y := range []int{1, 2, 3, 4, 7} {
		require.Positive(t, s[y], "item %d", y)
	}
	require.Equal(t, float32(3), s[0], "each of three neighbours votes 1 for the item shared")

	// By distance in the neighbour session to the item shared: 3 is next
	// to 0, 7 three away.
	s = votes(t, sessions, 8, NeighbourConfig{NoIDF: true}, 0)
	require.Greater(t, s[3], s[4])
	require.Greater(t, s[4], s[7])

	// The session's last item weighs most: after 5 then 0, a session with
	// 0 is more like it than one with 5.
	sessions = [][]int32{{0, 1}, {5, 6}}
	s = votes(t, sessions, 8, NeighbourConfig{NoIDF: true, ItemDecay: -1}, 5, 0)
	require.Greater(t, s[1], s[6])
	s = votes(t, sessions, 8, NeighbourConfig{NoIDF: true, ItemDecay: -1}, 0, 5)
	require.Greater(t, s[6], s[1])

	// K 1: the most similar session votes alone; between equals, the
	// more recent one.
	sessions = [][]int32{{0, 1}, {0, 2}}
	s = votes(t, sessions, 8, NeighbourConfig{K: 1, NoIDF: true}, 0)
	require.Zero(t, s[1])
	require.Positive(t, s[2])

	// Sample 1: only the most recent session holding an item is a
	// candidate, however similar an older one is.
	sessions = [][]int32{{0, 3, 1}, {3, 2}}
	s = votes(t, sessions, 8, NeighbourConfig{Sample: 1, NoIDF: true}, 0, 3)
	require.Zero(t, s[1])
	require.Positive(t, s[2])

	// Unknown items vote for nothing; an empty session neither.
	require.Equal(t, make([]float32, 8), votes(t, sessions, 8, NeighbourConfig{}, 7, -1, 99))
	require.Equal(t, make([]float32, 8), votes(t, sessions, 8, NeighbourConfig{}))
}

func TestNeighboursRefuse(t *testing.T) {
	_, err := NewNeighbours([][]int32{{0, 3}}, 3, NeighbourConfig{})
	require.Error(t, err)
	_, err = NewNeighbours(nil, 3, NeighbourConfig{K: -1})
	require.Error(t, err)
}

func TestSessionLogKeepsTheMostRecent(t *testing.T) {
	c := Corpus{Items: []Item{{ID: "a"}, {ID: "b"}, {ID: "c"}},
		Sessions: [][]Event{{{Item: 0}, {Item: 1}}, {}, {{Item: 2}}, {{Item: 1}, {Item: 2}}}}
	require.Equal(t, &SessionLog{Items: []string{"c", "b"}, Sessions: [][]int32{{0}, {1, 0}}}, NewSessionLog(c, 2))
	require.Equal(t, &SessionLog{Items: []string{"a", "b", "c"}, Sessions: [][]int32{{0, 1}, {2}, {1, 2}}}, NewSessionLog(c, 0))
	require.Nil(t, NewSessionLog(Corpus{Sessions: [][]Event{{}}}, 0))
}

// withSessions returns c's model with a session log over c's items given
// by ID, and the catalogue of the same items over it.
func withSessions(t *testing.T, c *Catalog, sessions ...[]string) *Catalog {
	t.Helper()
	m := *c.model
	m.Sessions = &SessionLog{}
	index := map[string]int32{}
	for _, s := range sessions {
		var seq []int32
		for _, id := range s {
			x, ok := index[id]
			if !ok {
				x = int32(len(m.Sessions.Items))
				index[id] = x
				m.Sessions.Items = append(m.Sessions.Items, id)
			}
			seq = append(seq, x)
		}
		m.Sessions.Sessions = append(m.Sessions.Sessions, seq)
	}
	var items []Item
	for r := range c.Len() {
		items = append(items, c.Item(int32(r)))
	}
	nc, err := NewCatalog(&m, items, nil)
	require.NoError(t, err)
	return nc
}

func TestRankBlendsNeighbours(t *testing.T) {
	_, plain := plantedCatalog(t, 40)
	// Sessions with a-1 went on to c-7, of another topic: the vectors
	// would never propose it for a session about a.
	c := withSessions(t, plain, []string{"a-1", "c-7"}, []string{"a-1", "a-2", "c-7"}, []string{"d-1", "d-2"})
	session := sessionIntents(t, c, "a-1", "a-3")
	recent := []string{"a-3", "a-1"}

	off, err := c.Rank(session, nil, RankOptions{K: 10, Recent: recent})
	require.NoError(t, err)
	for _, it := range off.Items {
		require.Equal(t, "a", topicOf(it.ItemID))
		require.Equal(t, it.Vector, it.Score)
		require.Zero(t, it.Neighbours)
	}

	on, err := c.Rank(session, nil, RankOptions{K: 10, Recent: recent, Neighbours: 0.5})
	require.NoError(t, err)
	i := slices.IndexFunc(on.Items, func(r Recommendation) bool { return r.ItemID == "c-7" })
	require.GreaterOrEqual(t, i, 0, "the item the neighbours went on to is recommended: %+v", on.Items)
	got := on.Items[i]
	require.Positive(t, got.Neighbours)
	require.LessOrEqual(t, got.Neighbours, float32(1))
	require.NotEmpty(t, got.Intent, "it is credited to an intent")
	require.Contains(t, []string{session[0].ID, session[len(session)-1].ID}, got.Intent)
	for _, it := range off.Items {
		require.Greater(t, it.Vector, got.Vector, "the vectors alone rank %s above it", it.ItemID)
	}
	for _, it := range on.Items {
		require.NotEqual(t, "d", topicOf(it.ItemID), "sessions without the user's items do not vote")
	}

	// The dense form used by evaluation gives the same scores.
	dst, tmp := make([]float32, c.Len()), make([]float32, c.Len())
	require.NoError(t, c.Scores(session, nil, RankOptions{K: 10, Recent: recent, Neighbours: 0.5}, dst, tmp))
	for _, it := range on.Items {
		r, ok := c.Row(it.ItemID)
		require.True(t, ok)
		require.InDelta(t, dst[r], it.Score, 1e-5, it.ItemID)
	}

	// Filters apply to the neighbours' items too; a withdrawn item is
	// never recommended.
	f, err := c.Rank(session, nil, RankOptions{K: 10, Recent: recent, Neighbours: 0.5, Filter: Filter{Category: "shop.a"}})
	require.NoError(t, err)
	for _, it := range f.Items {
		require.Equal(t, "a", topicOf(it.ItemID))
	}
	require.True(t, c.Remove("c-7"))
	gone, err := c.Rank(session, nil, RankOptions{K: 10, Recent: recent, Neighbours: 0.5})
	require.NoError(t, err)
	require.False(t, slices.ContainsFunc(gone.Items, func(r Recommendation) bool { return r.ItemID == "c-7" }))
	// Put back, on a new row, the neighbours find it again.
	require.NoError(t, c.Put(plain.Item(mustRow(t, plain, "c-7"))))
	back, err := c.Rank(session, nil, RankOptions{K: 10, Recent: recent, Neighbours: 0.5})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(back.Items, func(r Recommendation) bool { return r.ItemID == "c-7" }))

	_, err = c.Rank(session, nil, RankOptions{Neighbours: 1.5})
	require.Error(t, err)
}

func mustRow(t *testing.T, c *Catalog, id string) int32 {
	t.Helper()
	r, ok := c.Row(id)
	require.True(t, ok, id)
	return r
}

// The sequential rules raise what the sessions went on to right after the
// session's latest item, by Sequence times its weight over the best
// follower's, even when neither the vectors nor the neighbours propose it;
// Rank and Scores agree.
func TestRankSequence(t *testing.T) {
	_, plain := plantedCatalog(t, 40)
	// After a-1: c-7 right after (twice), e-3 two steps after (once).
	c := withSessions(t, plain, []string{"a-1", "c-7"}, []string{"a-1", "c-7", "e-3"}, []string{"b-1", "a-1"})
	session := sessionIntents(t, c, "a-2", "a-1")
	recent := []string{"a-2", "a-1"}
	o := RankOptions{K: 200, Recent: recent, Sequence: 0.5}
	r, err := c.Rank(session, nil, o)
	require.NoError(t, err)
	off, err := c.Rank(session, nil, RankOptions{K: 200, Recent: recent})
	require.NoError(t, err)
	before := map[string]float32{}
	for _, it := range off.Items {
		before[it.ItemID] = it.Score
	}
	weights := map[string]float32{"c-7": 1, "e-3": 0.5 / 2}
	for _, it := range r.Items {
		w := weights[it.ItemID]
		require.InDelta(t, w, it.Sequence, 1e-6, it.ItemID)
		require.InDelta(t, before[it.ItemID]+0.5*w, it.Score, 1e-6, it.ItemID)
	}
	dst, tmp := make([]float32, c.Len()), make([]float32, c.Len())
	require.NoError(t, c.Scores(session, nil, o, dst, tmp))
	for _, it := range r.Items {
		row, _ := c.Row(it.ItemID)
		require.InDelta(t, dst[row], it.Score, 1e-6, it.ItemID)
	}
	// With K small, the follower the vectors never propose comes first.
	top, err := c.Rank(session, nil, RankOptions{K: 3, Recent: recent, Sequence: 1})
	require.NoError(t, err)
	require.Equal(t, "c-7", top.Items[0].ItemID)
	// b-1 came before a-1, never after: no weight.
	require.Zero(t, func() float32 {
		for _, it := range r.Items {
			if it.ItemID == "b-1" {
				return it.Sequence
			}
		}
		return 0
	}())
}

// RecentSessions takes the most recent sessions holding one of the items,
// each once, as the union of their posting lists sorted newest first,
// for random lists, item sets (with repeats and items of no session) and
// limits.
func TestRecentSessions(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var dst, cursor []int32
	for trial := range 300 {
		nItems, nSess := 1+rng.IntN(12), 1+rng.IntN(60)
		off := make([]int32, nItems+1)
		var sess []int32
		for x := range nItems {
			for s := range nSess {
				if rng.IntN(4) == 0 {
					sess = append(sess, int32(s))
				}
			}
			off[x+1] = int32(len(sess))
		}
		items := make([]int32, rng.IntN(6))
		for i := range items {
			items[i] = int32(rng.IntN(nItems))
		}
		limit := rng.IntN(nSess+2) - 1 // -1 is all of them
		var want []int32
		for _, x := range items {
			want = append(want, sess[off[x]:off[x+1]]...)
		}
		slices.Sort(want)
		want = slices.Compact(want)
		slices.Reverse(want)
		if limit >= 0 && len(want) > limit {
			want = want[:limit]
		}
		// What dst holds already is kept, and not taken for a session:
		// the newest session of the union too, when it is there.
		prefix := []int32{7}
		if len(want) > 0 && trial%2 == 0 {
			prefix[0] = want[0]
		}
		dst, cursor = RecentSessions(off, sess, items, limit, append(dst[:0], prefix...), cursor)
		require.Equal(t, append(prefix, want...), dst, "items %v limit %d", items, limit)
	}
}
