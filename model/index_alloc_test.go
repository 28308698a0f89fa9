//go:build !race

// Allocation counts mean nothing under the race detector, which makes
// sync.Pool drop items at random on purpose. This file is built only
// without -race; `make test` runs it in its pass without the detector.

package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSearchDoesNotAllocate(t *testing.T) {
	d := newIVFTestData(t, 3000)
	exact, err := NewExactIndex(d.dim, d.vectors)
	require.NoError(t, err)
	ivf, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{})
	require.NoError(t, err)
	for name, idx := range map[string]Index{"exact": exact, "ivf": ivf} {
		dst := make([]Hit, 0, 20)
		idx.Search(d.query(0), 20, nil, dst) // warm the scratch pool
		allocs := testing.AllocsPerRun(50, func() {
			dst = idx.Search(d.query(1), 20, func(r int32) bool { return r%2 == 0 }, dst[:0])
		})
		if allocs > 0 {
			t.Errorf("%s: Search with a reused dst got %v allocs, want 0", name, allocs)
		}
	}
}

// A catalogue search that scans fresh rows (items put since the index was
// built) allocates nothing either: its scratch is pooled.
func TestCatalogSearchWithFreshRowsDoesNotAllocate(t *testing.T) {
	s, _, c := liveShop(t, nil)
	for i := range 300 {
		it := s.items[i%len(s.items)]
		it.ID = it.ID + "-fresh"
		require.NoError(t, c.Put(it))
	}
	q := topicIntent(c, s, 0)[0].Centroid
	dst := make([]Hit, 0, 20)
	c.mu.RLock()
	v := c.view()
	c.mu.RUnlock()
	dst = v.search(q, 20, nil, dst) // warm the scratch pool
	require.Len(t, dst, 20)
	allocs := testing.AllocsPerRun(50, func() {
		dst = v.search(q, 20, nil, dst[:0])
	})
	require.Zero(t, allocs, "search over fresh rows with a reused dst")
}
