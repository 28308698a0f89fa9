package model

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// IndexBuilder builds an Index over n rows of dim unit-length vectors.
// NewExactIndex is one; an approximate index adapts to it with a closure.
type IndexBuilder func(dim int, vectors []float32) (Index, error)

// ExactIndexBuilder builds an ExactIndex: exact search by a full scan.
func ExactIndexBuilder(dim int, vectors []float32) (Index, error) {
	return NewExactIndex(dim, vectors)
}

// Catalog holds the recommendable items with their unit-length vectors and
// an index over them. It is safe for concurrent use, and it changes while
// it serves: Put adds or replaces an item, its vector encoded from its
// features at once (cold start), and Remove withdraws one.
//
// Rows are never changed or reused once written. The index covers the
// rows of the last build; rows added since ("fresh") are scanned exactly
// by every search, and a replaced or removed row is skipped. When the
// fresh rows grow past an eighth of the indexed ones (and 1,024), the index
// is due for a rebuild over all rows (NeedsRebuild, Rebuild), which the
// owner runs on a goroutine of its own and swaps in when done.
//
// A ranking holds the catalogue's lock only to take a view of it (a few
// slice headers) and scores without it, so that Put and Remove never wait
// for a ranking in progress.
type Catalog struct {
	model *Model
	build IndexBuilder
	dim   int

	mu    sync.RWMutex
	items []Item
	// rows maps every item ID to its latest row, removed items too: their
	// vectors still place the clicks a session made on them among its
	// intents, although they are never recommended.
	rows  map[string]int32
	vecs  []float32 // row-major unit vectors; a zero row is an item without a vector
	cats  [][]string
	brand []string
	// dead flags the rows replaced or removed (1). Written under mu but
	// read atomically: searches read them without mu (see view).
	dead  []uint32
	ndead int   // how many rows are dead
	index Index // over rows [0, indexed)
	// indexed is the number of rows the index covers; rows from there on
	// are fresh.
	indexed    int
	rebuilding bool
	// scratch pools searchScratch for the scans of fresh rows, rankPool
	// rankScratch for the rankings.
	scratch  sync.Pool
	rankPool sync.Pool

	// The neighbourhood term, when the model has a SessionLog: nb over its
	// sessions; nbIndex maps its item IDs to their indices and nbRow each
	// index to the item's latest row, -1 while the catalogue has none
	// (written by Put under mu, read atomically); nbPool pools
	// NeighbourScratch.
	nb      *Neighbours
	nbIndex map[string]int32
	nbRow   []int32
	nbPool  sync.Pool
	// seq are the followers of each SessionLog item (sequence.go).
	seq [][]follower
}

// NewCatalog encodes items with m, normalises their vectors and builds the
// search index with build (nil means ExactIndexBuilder). Item IDs must be
// non-empty and distinct. The catalogue keeps items; the caller must not
// modify it afterwards.
func NewCatalog(m *Model, items []Item, build IndexBuilder) (*Catalog, error) {
	if build == nil {
		build = ExactIndexBuilder
	}
	c := &Catalog{
		model: m,
		build: build,
		items: items,
		rows:  make(map[string]int32, len(items)),
		dim:   m.Dims.Total(),
		cats:  make([][]string, len(items)),
		brand: make([]string, len(items)),
		dead:  make([]uint32, len(items)),
	}
	c.vecs = make([]float32, len(items)*c.dim)
	for i, it := range items {
		if it.ID == "" {
			return nil, fmt.Errorf("model: catalog item %d has an empty ID", i)
		}
		if _, dup := c.rows[it.ID]; dup {
			return nil, fmt.Errorf("model: catalog item %q appears twice", it.ID)
		}
		c.rows[it.ID] = int32(i)
		Normalize(m.Encode(it, c.vecs[i*c.dim:(i+1)*c.dim]))
		c.cats[i] = it.Categories()
		c.brand[i] = it.BrandKey()
	}
	idx, err := build(c.dim, c.vecs)
	if err != nil {
		return nil, fmt.Errorf("model: build catalog index: %w", err)
	}
	c.index, c.indexed = idx, len(items)
	if l := m.Sessions; l != nil {
		if c.nb, err = NewNeighbours(l.Sessions, len(l.Items), NeighbourConfig{}); err != nil {
			return nil, err
		}
		c.seq = newSequence(l.Sessions, len(l.Items))
		c.nbIndex = make(map[string]int32, len(l.Items))
		c.nbRow = make([]int32, len(l.Items))
		for i, id := range l.Items {
			c.nbIndex[id] = int32(i)
			c.nbRow[i] = -1
			if r, ok := c.rows[id]; ok {
				c.nbRow[i] = r
			}
		}
	}
	return c, nil
}

// Len returns the number of items in the catalogue, removed ones not
// counted.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items) - c.ndead
}

// Dim returns the vector length.
func (c *Catalog) Dim() int { return c.dim }

// Row returns the row of an item ID; a removed item keeps its row (see
// Live).
func (c *Catalog) Row(id string) (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.rows[id]
	return r, ok
}

// Item returns the item of row r.
func (c *Catalog) Item(r int32) Item {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.items[r]
}

// Put adds an item, or replaces the item of the same ID: its vector is
// encoded from its features by the catalogue's model at once (names,
// categories and brands the model has not seen get its unknown rows), and
// it is recommendable as soon as Put returns.
func (c *Catalog) Put(it Item) error {
	if it.ID == "" {
		return fmt.Errorf("model: catalog item has an empty ID")
	}
	v := make([]float32, c.dim)
	Normalize(c.model.Encode(it, v))
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.rows[it.ID]; ok && !isDead(c.dead, old) {
		atomic.StoreUint32(&c.dead[old], 1)
		c.ndead++
	}
	r := int32(len(c.items))
	c.items = append(c.items, it)
	c.vecs = append(c.vecs, v...)
	c.cats = append(c.cats, it.Categories())
	c.brand = append(c.brand, it.BrandKey())
	c.dead = append(c.dead, 0)
	c.rows[it.ID] = r
	if i, ok := c.nbIndex[it.ID]; ok {
		atomic.StoreInt32(&c.nbRow[i], r)
	}
	return nil
}

// NeedsRebuild reports whether the rows added since the index was built
// have grown past an eighth of the indexed ones (and 1,024), so that
// scanning them exactly costs more than it should: time for Rebuild.
func (c *Catalog) NeedsRebuild() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fresh := len(c.items) - c.indexed
	return !c.rebuilding && fresh > max(1024, c.indexed/8)
}

// Rebuild builds the index over every row, on the caller's goroutine and
// without holding up searches (rows never change once written, so the
// build reads them unlocked), and swaps it in. Searches meanwhile use the
// old index and scan the fresh rows. A failed build keeps the old index.
// Concurrent calls build once.
func (c *Catalog) Rebuild() error {
	c.mu.Lock()
	if c.rebuilding {
		c.mu.Unlock()
		return nil
	}
	c.rebuilding = true
	n := len(c.items)
	vecs := c.vecs[: n*c.dim : n*c.dim]
	c.mu.Unlock()
	idx, err := c.build(c.dim, vecs)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rebuilding = false
	if err != nil {
		return fmt.Errorf("model: rebuild the catalogue index: %w", err)
	}
	c.index, c.indexed = idx, n
	return nil
}

// Remove withdraws an item: it is never recommended again (its vector
// still serves intent detection). It reports whether the catalogue held
// the item live.
func (c *Catalog) Remove(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rows[id]
	if !ok || isDead(c.dead, r) {
		return false
	}
	atomic.StoreUint32(&c.dead[r], 1)
	c.ndead++
	return true
}

// Live reports whether the catalogue holds the item and it is not removed.
func (c *Catalog) Live(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.rows[id]
	return ok && !isDead(c.dead, r)
}

// isDead reports whether row r of dead is flagged.
func isDead(dead []uint32, r int32) bool { return atomic.LoadUint32(&dead[r]) != 0 }

// Vector returns the unit vector of row r. The slice is owned by the
// catalogue and must not be modified.
func (c *Catalog) Vector(r int32) []float32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.vector(r)
}

// vector is Vector for callers that hold c.mu.
func (c *Catalog) vector(r int32) []float32 {
	return c.vecs[int(r)*c.dim : (int(r)+1)*c.dim : (int(r)+1)*c.dim]
}

// view is what a search reads of the catalogue: the rows written when it
// was taken and the index of the moment. It is taken under c.mu (slice
// headers, no copy) and read without it, so that a long ranking holds up
// no Put or Remove, nor, as a waiting writer holds up new readers of an
// RWMutex, the rankings behind them.
//
// It stays true without the lock because rows are never changed once
// written and the slices are only appended to: an append writes past the
// view's lengths, or moves the slice and leaves the old array, which the
// view keeps, as it was. Rebuild swaps in a new index rather than changing
// one. Only the dead flags change in place, read and written atomically: a
// view sees a removal made after it was taken, or does not. A Put that
// replaces an item while a ranking runs marks the old row dead and appends
// the new one past the view, so that ranking may leave the item out
// altogether: it is in neither the catalogue before nor the one after.
type view struct {
	dim     int
	items   []Item
	vecs    []float32
	cats    [][]string
	brand   []string
	dead    []uint32
	ndead   int
	index   Index // over rows [0, indexed)
	indexed int
	scratch *sync.Pool
}

// view returns the catalogue as it is now. The caller holds c.mu.
func (c *Catalog) view() *view {
	return &view{dim: c.dim, items: c.items, vecs: c.vecs, cats: c.cats, brand: c.brand, dead: c.dead, ndead: c.ndead,
		index: c.index, indexed: c.indexed, scratch: &c.scratch}
}

// vector returns the unit vector of row r, owned by the catalogue.
func (v *view) vector(r int32) []float32 {
	return v.vecs[int(r)*v.dim : (int(r)+1)*v.dim : (int(r)+1)*v.dim]
}

// search returns the k best rows for q that accept (from c.accept, which
// also leaves out removed rows) takes: the index's and the fresh rows',
// merged.
func (v *view) search(q []float32, k int, accept func(int32) bool, dst []Hit) []Hit {
	base := len(dst)
	dst = v.index.Search(q, k, accept, dst)
	fresh := len(v.items) - v.indexed
	if fresh == 0 {
		return dst
	}
	// The index's hits and the fresh rows' meet in a heap in pooled
	// scratch; the fresh rows are scored a chunk at a time.
	sc := v.getScratch()
	defer v.scratch.Put(sc)
	top := newTopK(sc.hits[:0], k)
	for _, h := range dst[base:] {
		if top.admits(h) {
			top.push(h)
		}
	}
	unitVector(sc.q, q)
	for start := v.indexed; start < len(v.items); start += scanChunk {
		stop := min(start+scanChunk, len(v.items))
		scores := sc.scores[:stop-start]
		dots(sc.q, v.vecs[start*v.dim:stop*v.dim], v.dim, scores)
		for i, x := range scores {
			h := Hit{Row: int32(start + i), Score: x}
			if top.admits(h) && (accept == nil || accept(h.Row)) {
				top.push(h)
			}
		}
	}
	hits := top.appendTo(top.buf[:0])
	sc.hits = hits[:0]
	return append(dst[:base], hits...)
}

// searchScratch is the memory of one search over fresh rows, or of one
// diversity step (mmr), pooled.
type searchScratch struct {
	q      []float32 // the unit query
	scores [scanChunk]float32
	hits   []Hit // the heap
	left   []int // mmr's candidates left
	mmr    []float32
}

// getScratch takes a searchScratch from the view's pool; the caller puts
// it back.
func (v *view) getScratch() *searchScratch {
	sc, _ := v.scratch.Get().(*searchScratch)
	if sc == nil {
		sc = &searchScratch{q: make([]float32, v.dim)}
	}
	return sc
}

// SessionItems looks up the vectors of the given item IDs, in order, for
// IntentDetector.Detect. Unknown IDs get a nil vector, which the detector
// leaves out. The vectors are owned by the catalogue.
func (c *Catalog) SessionItems(ids []string, dst []SessionItem) []SessionItem {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		si := SessionItem{ID: id}
		if r, ok := c.rows[id]; ok {
			si.Vec = c.vector(r)
		}
		dst = append(dst, si)
	}
	return dst
}

// Filter restricts the items a ranking may return. The zero Filter accepts
// every item.
type Filter struct {
	// Category keeps items of this category or of a category below it
	// ("electronics" keeps "electronics.smartphone"). Case-insensitive.
	Category string
	// Brand keeps items of this brand. Case-insensitive.
	Brand string
	// MinPrice and MaxPrice keep items whose price lies in the range; 0
	// means no bound. An item with an unknown price fails a bounded range.
	MinPrice, MaxPrice float64
	// Exclude lists item IDs never to return (seen or purchased items).
	Exclude []string
}

func (f Filter) validate() error {
	switch {
	case f.MinPrice < 0 || f.MinPrice != f.MinPrice:
		return fmt.Errorf("model: min price %v: want >= 0", f.MinPrice)
	case f.MaxPrice < 0 || f.MaxPrice != f.MaxPrice:
		return fmt.Errorf("model: max price %v: want >= 0", f.MaxPrice)
	case f.MaxPrice > 0 && f.MinPrice > f.MaxPrice:
		return fmt.Errorf("model: min price %v above max price %v", f.MinPrice, f.MaxPrice)
	}
	return nil
}

// accept returns the filter as a predicate over the rows of v that also
// refuses removed rows, or nil when it accepts every row. The caller holds
// c.mu, for the rows of the excluded IDs; the predicate reads only v.
func (c *Catalog) accept(v *view, f Filter) func(int32) bool {
	cat := Item{Category: f.Category}.Categories()
	brand := Item{Brand: f.Brand}.BrandKey()
	var excl map[int32]struct{}
	for _, id := range f.Exclude {
		if r, ok := c.rows[id]; ok {
			if excl == nil {
				excl = make(map[int32]struct{}, len(f.Exclude))
			}
			excl[r] = struct{}{}
		}
	}
	if len(cat) == 0 && brand == "" && f.MinPrice == 0 && f.MaxPrice == 0 && excl == nil && v.ndead == 0 {
		return nil
	}
	return func(r int32) bool {
		if isDead(v.dead, r) {
			return false
		}
		if _, ok := excl[r]; ok {
			return false
		}
		if len(cat) > 0 && !slices.Contains(v.cats[r], cat[0]) {
			return false
		}
		if brand != "" && v.brand[r] != brand {
			return false
		}
		if f.MinPrice > 0 || f.MaxPrice > 0 {
			it := &v.items[r]
			if !it.KnownPrice() || it.Price < f.MinPrice || (f.MaxPrice > 0 && it.Price > f.MaxPrice) {
				return false
			}
		}
		return true
	}
}
