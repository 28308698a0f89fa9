package model

import (
	"fmt"
	"slices"
)

// IndexBuilder builds an Index over n rows of dim unit-length vectors.
// NewExactIndex is one; an approximate index adapts to it with a closure.
type IndexBuilder func(dim int, vectors []float32) (Index, error)

// ExactIndexBuilder builds an ExactIndex: exact search by a full scan.
func ExactIndexBuilder(dim int, vectors []float32) (Index, error) {
	return NewExactIndex(dim, vectors)
}

// Catalog holds the recommendable items with their unit-length vectors and
// an index over them. It is read-only once built and safe for concurrent
// use.
type Catalog struct {
	items []Item
	rows  map[string]int32
	dim   int
	vecs  []float32 // row-major unit vectors; a zero row is an item without a vector
	cats  [][]string
	brand []string
	index Index
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
		items: items,
		rows:  make(map[string]int32, len(items)),
		dim:   m.Dims.Total(),
		cats:  make([][]string, len(items)),
		brand: make([]string, len(items)),
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
	c.index = idx
	return c, nil
}

// Len returns the number of items.
func (c *Catalog) Len() int { return len(c.items) }

// Dim returns the length of the item vectors.
func (c *Catalog) Dim() int { return c.dim }

// Row returns the row of the item with the given ID.
func (c *Catalog) Row(id string) (int32, bool) {
	r, ok := c.rows[id]
	return r, ok
}

// Item returns the item at row r.
func (c *Catalog) Item(r int32) Item { return c.items[r] }

// Vector returns the unit vector of row r. The slice is owned by the
// catalogue and must not be modified.
func (c *Catalog) Vector(r int32) []float32 {
	return c.vecs[int(r)*c.dim : (int(r)+1)*c.dim : (int(r)+1)*c.dim]
}

// SessionItems looks up the vectors of the given item IDs, in order, for
// IntentDetector.Detect. Unknown IDs get a nil vector, which the detector
// leaves out. The vectors are owned by the catalogue.
func (c *Catalog) SessionItems(ids []string, dst []SessionItem) []SessionItem {
	for _, id := range ids {
		si := SessionItem{ID: id}
		if r, ok := c.rows[id]; ok {
			si.Vec = c.Vector(r)
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

// accept returns the filter as a row predicate, or nil when it accepts all.
func (c *Catalog) accept(f Filter) func(int32) bool {
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
	if len(cat) == 0 && brand == "" && f.MinPrice == 0 && f.MaxPrice == 0 && excl == nil {
		return nil
	}
	return func(r int32) bool {
		if _, ok := excl[r]; ok {
			return false
		}
		if len(cat) > 0 && !slices.Contains(c.cats[r], cat[0]) {
			return false
		}
		if brand != "" && c.brand[r] != brand {
			return false
		}
		if f.MinPrice > 0 || f.MaxPrice > 0 {
			it := &c.items[r]
			if !it.KnownPrice() || it.Price < f.MinPrice || (f.MaxPrice > 0 && it.Price > f.MaxPrice) {
				return false
			}
		}
		return true
	}
}
