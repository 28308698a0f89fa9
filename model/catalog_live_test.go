package model

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// liveShop is a model trained on the synthetic shop and a catalogue of its
// items, built with build.
func liveShop(t *testing.T, build IndexBuilder) (*shop, *Model, *Catalog) {
	t.Helper()
	s := newShop(1, 3000)
	m, err := Train(s.corpus, TrainConfig{Epochs: 5, Seed: 1, Workers: 1})
	require.NoError(t, err)
	c, err := NewCatalog(m, slices.Clone(s.items), build)
	require.NoError(t, err)
	return s, m, c
}

// topicIntent is an intent made of the first three items of a topic.
func topicIntent(c *Catalog, s *shop, topic int) []Intent {
	ids := []string{s.items[s.byTopic[topic][0]].ID, s.items[s.byTopic[topic][1]].ID, s.items[s.byTopic[topic][2]].ID}
	centroid := make([]float32, c.Dim())
	for _, si := range c.SessionItems(ids, nil) {
		axpy(1, si.Vec, centroid)
	}
	return []Intent{{ID: ids[0], Items: ids, Centroid: centroid, Weight: 1}}
}

func rankedIDs(t *testing.T, c *Catalog, intents []Intent, k int) []string {
	t.Helper()
	r, err := c.Rank(intents, nil, RankOptions{K: k})
	require.NoError(t, err)
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.ItemID
	}
	return out
}

// A new item gets its vector from its features the moment it is put, and
// is recommended for the intent it belongs to, before anyone clicked it
// and without retraining; a removed item is never recommended again.
func TestCatalogColdStartAndRemove(t *testing.T) {
	for _, ix := range []struct {
		name  string
		build IndexBuilder
	}{
		{"exact", nil},
		{"ivf", func(dim int, v []float32) (Index, error) {
			return NewIVFIndex(dim, v, IVFConfig{Lists: 8, Probe: 2, Workers: 1})
		}},
	} {
		t.Run(ix.name, func(t *testing.T) {
			s, _, c := liveShop(t, ix.build)
			n := c.Len()
			intents := topicIntent(c, s, 0)
			like := s.items[s.byTopic[0][3]]

			// A brand-new item, named, categorised and priced like topic 0's.
			fresh := Item{ID: "brand-new-1", Name: like.Name, Category: like.Category, Brand: like.Brand, Price: like.Price}
			require.False(t, c.Live(fresh.ID))
			require.NoError(t, c.Put(fresh))
			require.True(t, c.Live(fresh.ID))
			require.Equal(t, n+1, c.Len())
			require.Contains(t, rankedIDs(t, c, intents, 10), fresh.ID, "the cold item is recommended for its topic")
			require.NotContains(t, rankedIDs(t, c, topicIntent(c, s, 1), 10), fresh.ID, "but not for another topic")

			// Replaced with another topic's features, it moves there.
			other := s.items[s.byTopic[1][3]]
			moved := Item{ID: fresh.ID, Name: other.Name, Category: other.Category, Brand: other.Brand, Price: other.Price}
			require.NoError(t, c.Put(moved))
			require.Equal(t, n+1, c.Len(), "a replaced item is counted once")
			require.NotContains(t, rankedIDs(t, c, intents, 10), fresh.ID)
			require.Contains(t, rankedIDs(t, c, topicIntent(c, s, 1), 10), fresh.ID)

			// Removed items never come back, even when every item is asked for.
			gone := rankedIDs(t, c, intents, 3)
			for _, id := range append(gone, fresh.ID) {
				require.True(t, c.Remove(id), id)
				require.False(t, c.Remove(id), "%s: removed twice", id)
			}
			all := rankedIDs(t, c, intents, n+1)
			require.Len(t, all, n+1-4)
			for _, id := range append(gone, fresh.ID) {
				require.NotContains(t, all, id)
				require.False(t, c.Live(id))
				// A removed item's clicks still place the session's intents.
				require.NotNil(t, c.SessionItems([]string{id}, nil)[0].Vec)
			}
			require.Equal(t, n+1-4, c.Len())

			// The dense scores cover every row, removed ones at -Inf.
			rows := len(c.items)
			dst, tmp := make([]float32, rows), make([]float32, rows)
			require.NoError(t, c.Scores(intents, nil, RankOptions{}, dst, tmp))
			for _, id := range append(gone, fresh.ID) {
				r, _ := c.Row(id)
				require.True(t, math.IsInf(float64(dst[r]), -1), id)
			}
			require.Error(t, c.Scores(intents, nil, RankOptions{}, dst[:n], tmp[:n]), "one entry per row")
		})
	}
}

// Past an eighth of the catalogue, fresh items are due for indexing;
// results are the same before and after the rebuild.
func TestCatalogRebuildsItsIndex(t *testing.T) {
	s, _, c := liveShop(t, nil)
	intents := topicIntent(c, s, 2)
	var added []string
	for i := range 1100 {
		it := s.items[i%len(s.items)]
		it.ID = fmt.Sprintf("copy-%d", i)
		require.NoError(t, c.Put(it))
		added = append(added, it.ID)
	}
	scores := func() []float32 {
		r, err := c.Rank(intents, nil, RankOptions{K: 50})
		require.NoError(t, err)
		out := make([]float32, len(r.Items))
		for i, it := range r.Items {
			out[i] = it.Score
		}
		return out
	}
	before := scores()
	require.True(t, c.NeedsRebuild())
	require.NoError(t, c.Rebuild())
	require.False(t, c.NeedsRebuild())
	c.mu.RLock()
	indexed := c.indexed
	c.mu.RUnlock()
	require.GreaterOrEqual(t, indexed, len(s.items)+1025, "the fresh rows were indexed")
	// The same scores (tied copies may swap places: the index and the
	// fresh scan normalise the query separately, to the last bit).
	after := scores()
	require.Len(t, after, len(before))
	for i := range before {
		require.InDelta(t, before[i], after[i], 1e-5, "rank %d", i)
	}
	require.Equal(t, len(s.items)+len(added), c.Len())
}

// Ranking, putting and removing at once: run under -race.
func TestCatalogConcurrentUse(t *testing.T) {
	s, _, c := liveShop(t, nil)
	intents := topicIntent(c, s, 0)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 300 {
				it := s.items[(i+w)%len(s.items)]
				it.ID = fmt.Sprintf("w%d-%d", w, i)
				if err := c.Put(it); err != nil {
					t.Error(err)
				}
				if i%3 == 0 {
					c.Remove(it.ID)
				}
			}
		})
	}
	wg.Go(func() {
		for range 300 {
			if _, err := c.Rank(intents, nil, RankOptions{K: 10}); err != nil {
				t.Error(err)
			}
			c.SessionItems([]string{"w0-1", s.items[0].ID}, nil)
		}
	})
	wg.Wait()
	require.Equal(t, len(s.items)+2*200, c.Len())
}

// hookIndex is an index that calls onSearch (when set) at the start of
// every search, on the searching goroutine.
type hookIndex struct {
	Index
	onSearch func()
}

func (x *hookIndex) Search(q []float32, k int, accept func(int32) bool, dst []Hit) []Hit {
	if x.onSearch != nil {
		x.onSearch()
	}
	return x.Index.Search(q, k, accept, dst)
}

// hookedShop is liveShop over an exact index wrapped in a hookIndex whose
// onSearch the test sets before it searches.
func hookedShop(t *testing.T) (*shop, *Catalog, *hookIndex) {
	t.Helper()
	var hook *hookIndex
	s, _, c := liveShop(t, func(dim int, v []float32) (Index, error) {
		x, err := NewExactIndex(dim, v)
		hook = &hookIndex{Index: x}
		return hook, err
	})
	return s, c, hook
}

// A ranking scores over a view of the catalogue taken when it started and
// holds no lock meanwhile: while one is stopped inside its search, nothing
// holds the catalogue's lock, so Put and Remove go through at once; the
// ranking in progress answers from its view, the next one sees the new
// item.
func TestCatalogPutDoesNotWaitForARanking(t *testing.T) {
	s, c, hook := hookedShop(t)
	intents := topicIntent(c, s, 0)
	like := s.items[s.byTopic[0][3]]
	fresh := Item{ID: "brand-new-1", Name: like.Name, Category: like.Category, Brand: like.Brand, Price: like.Price}

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook.onSearch = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	type result struct {
		ids []string
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.Rank(intents, nil, RankOptions{K: 10})
		var ids []string
		for _, it := range r.Items {
			ids = append(ids, it.ItemID)
		}
		done <- result{ids, err}
	}()
	<-entered // the ranking is inside its search, and stays there

	// No reader holds the lock (TryLock fails while one does), so the
	// writers below cannot wait for the ranking.
	require.True(t, c.mu.TryLock(), "the ranking holds the catalogue's lock while it searches")
	c.mu.Unlock()
	require.NoError(t, c.Put(fresh))
	gone := s.items[s.byTopic[1][0]].ID
	require.True(t, c.Remove(gone))
	require.True(t, c.Live(fresh.ID))
	select {
	case r := <-done:
		t.Fatalf("the ranking finished while stopped in its search: %v", r)
	default:
	}

	close(release)
	r := <-done
	require.NoError(t, r.err)
	require.Len(t, r.ids, 10)
	require.NotContains(t, r.ids, fresh.ID, "the ranking in progress ranks the catalogue as it started")
	require.Contains(t, rankedIDs(t, c, intents, 10), fresh.ID, "the next ranking sees the new item")
}
