package processor

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
)

// The catalogue map of GET /v1/embedding: the item vectors projected on
// their top two principal components, so that a page can draw the
// catalogue, a user's session items and intents and the recommendations
// on one plane. The plane is fitted once per engine (a new model, a new
// engine) over a sample of the catalogue.

// embeddingSample bounds the items the plane is fitted on and GET
// /v1/embedding lists: every k-th row, k the smallest that keeps to it.
const embeddingSample = 5000

// maxInclude bounds the item IDs of GET /v1/embedding's include.
const maxInclude = 1000

// embeddingParams are the parameters of GET /v1/embedding.
var embeddingParams = []apiParam{paramString("include")}

// EmbeddingResponse is the answer of GET /v1/embedding.
type EmbeddingResponse struct {
	ModelVersion string          `json:"model_version"`
	Items        []EmbeddingItem `json:"items"`
}

// EmbeddingItem is an item's place on the catalogue map.
type EmbeddingItem struct {
	ItemID   string  `json:"item_id"`
	X        float64 `json:"x"`
	Y        float64 `json:"y"`
	Category string  `json:"category"`
}

// plane is the principal plane of a set of vectors: their mean and the
// two orthonormal directions of most variance, the first first.
type plane struct {
	mean, x, y []float64
}

// project places v on the plane.
func (p *plane) project(v []float32) (x, y float64) {
	for i, f := range v {
		d := float64(f) - p.mean[i]
		x += d * p.x[i]
		y += d * p.y[i]
	}
	return x, y
}

// principalPlane fits the plane of vecs (each of length dim, at least
// one): the top two eigenvectors of their covariance, by power iteration
// on it, the second on the covariance deflated of the first. It is
// deterministic; each direction's sign makes its largest component
// positive. A direction of no variance (fewer than three distinct points)
// comes back zero, which projects everything to 0.
func principalPlane(vecs [][]float32, dim int) *plane {
	n := float64(len(vecs))
	mean := make([]float64, dim)
	for _, v := range vecs {
		for i, f := range v {
			mean[i] += float64(f)
		}
	}
	for i := range mean {
		mean[i] /= n
	}
	// The covariance, dim × dim, row-major.
	cov := make([]float64, dim*dim)
	d := make([]float64, dim)
	for _, v := range vecs {
		for i, f := range v {
			d[i] = float64(f) - mean[i]
		}
		for i := range dim {
			if d[i] == 0 {
				continue
			}
			row := cov[i*dim : (i+1)*dim]
			for j := range dim {
				row[j] += d[i] * d[j]
			}
		}
	}
	for i := range cov {
		cov[i] /= n
	}
	x, lx := powerIteration(cov, dim, nil)
	// Deflate: the covariance without its first direction.
	for i := range dim {
		for j := range dim {
			cov[i*dim+j] -= lx * x[i] * x[j]
		}
	}
	y, _ := powerIteration(cov, dim, x)
	return &plane{mean: mean, x: x, y: y}
}

// powerIteration returns the dominant eigenvector of the symmetric
// positive semi-definite matrix m (dim × dim) and its eigenvalue, kept
// orthogonal to ortho when set. A zero matrix gives a zero vector.
func powerIteration(m []float64, dim int, ortho []float64) ([]float64, float64) {
	v := make([]float64, dim)
	for i := range v {
		// A fixed start with no symmetry the matrix could be orthogonal
		// to by construction.
		v[i] = 1 + float64(i%7)/7 + float64(i)/float64(dim)
	}
	next := make([]float64, dim)
	orthogonalize := func(v []float64) {
		if ortho == nil {
			return
		}
		var dot float64
		for i := range v {
			dot += v[i] * ortho[i]
		}
		for i := range v {
			v[i] -= dot * ortho[i]
		}
	}
	normalize := func(v []float64) float64 {
		var s float64
		for _, f := range v {
			s += f * f
		}
		s = math.Sqrt(s)
		if s == 0 {
			return 0
		}
		for i := range v {
			v[i] /= s
		}
		return s
	}
	orthogonalize(v)
	normalize(v)
	var lambda float64
	for range 1000 {
		for i := range dim {
			var s float64
			row := m[i*dim : (i+1)*dim]
			for j, f := range row {
				s += f * v[j]
			}
			next[i] = s
		}
		orthogonalize(next)
		lambda = normalize(next)
		if lambda < 1e-12 {
			clear(v)
			return v, 0
		}
		var diff float64
		for i := range v {
			diff = max(diff, math.Abs(next[i]-v[i]))
		}
		v, next = next, v
		if diff < 1e-10 {
			break
		}
	}
	// The sign: the largest component positive.
	big := 0
	for i := range v {
		if math.Abs(v[i]) > math.Abs(v[big]) {
			big = i
		}
	}
	if v[big] < 0 {
		for i := range v {
			v[i] = -v[i]
		}
	}
	return v, lambda
}

// catalogueMap is an engine's catalogue map: the plane and the sample's
// places on it.
type catalogueMap struct {
	plane  *plane
	sample []EmbeddingItem
	in     map[string]bool // the sample's item IDs
}

// mapCatalogue samples e's catalogue (every k-th row of the first Len
// rows, the live ones with a vector), fits the plane and places the
// sample.
func mapCatalogue(e *Engine) *catalogueMap {
	cat := e.catalog
	dim := cat.Dim()
	n := cat.Len()
	step := max(1, (n+embeddingSample-1)/embeddingSample)
	var vecs [][]float32
	var items []EmbeddingItem
	for r := 0; r < n; r += step {
		it := cat.Item(int32(r))
		if row, ok := cat.Row(it.ID); !ok || row != int32(r) || !cat.Live(it.ID) {
			continue // replaced or withdrawn
		}
		v := cat.Vector(int32(r))
		if isZero(v) {
			continue // an item without a vector
		}
		vecs = append(vecs, v)
		items = append(items, EmbeddingItem{ItemID: it.ID, Category: it.Category})
	}
	m := &catalogueMap{plane: &plane{mean: make([]float64, dim), x: make([]float64, dim), y: make([]float64, dim)},
		in: make(map[string]bool, len(items))}
	if len(vecs) > 0 {
		m.plane = principalPlane(vecs, dim)
	}
	for i, v := range vecs {
		items[i].X, items[i].Y = m.plane.project(v)
		m.in[items[i].ItemID] = true
	}
	m.sample = items
	return m
}

func isZero(v []float32) bool {
	for _, f := range v {
		if f != 0 {
			return false
		}
	}
	return true
}

// embeddingCache holds the catalogue map of the serving engine, computed
// once per engine, on a goroutine of its own: a request that does not see
// it done by its deadline answers 503, and a later one finds it.
type embeddingCache struct {
	mu   sync.Mutex
	eng  *Engine
	done chan struct{}
	m    *catalogueMap // set before done is closed
}

// get returns e's catalogue map, computing it if e is not the engine of
// the one held.
func (c *embeddingCache) get(ctx context.Context, e *Engine) (*catalogueMap, error) {
	c.mu.Lock()
	if c.eng != e {
		done := make(chan struct{})
		c.eng, c.done, c.m = e, done, nil
		go func() {
			m := mapCatalogue(e)
			c.mu.Lock()
			if c.done == done {
				c.m = m
			}
			c.mu.Unlock()
			close(done)
		}()
	}
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != done || c.m == nil {
		return nil, unavailable("the model changed while the catalogue map was computed; ask again")
	}
	return c.m, nil
}

func (qa *queryAPI) apiEmbedding(ctx context.Context, r *http.Request) (any, error) {
	q := &query{v: r.URL.Query()}
	q.checkKnown(embeddingParams)
	var include []string
	for s := range strings.SplitSeq(q.string("include"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			include = append(include, s)
		}
	}
	if q.err == nil && len(include) > maxInclude {
		q.err = badParam("include", fmt.Sprintf("at most %d comma-separated item IDs", maxInclude), fmt.Sprintf("%d IDs", len(include)))
	}
	if q.err != nil {
		return nil, q.err
	}
	e := qa.engine()
	if e == nil {
		return nil, unavailable("no model loaded")
	}
	m, err := qa.embedding.get(ctx, e)
	if err != nil {
		return nil, err
	}
	out := EmbeddingResponse{ModelVersion: e.version, Items: make([]EmbeddingItem, len(m.sample), len(m.sample)+len(include))}
	copy(out.Items, m.sample)
	added := map[string]bool{}
	for _, id := range include {
		if m.in[id] || added[id] {
			continue
		}
		row, ok := e.catalog.Row(id)
		if !ok {
			continue // unknown: the page places what it can
		}
		added[id] = true
		x, y := m.plane.project(e.catalog.Vector(row))
		out.Items = append(out.Items, EmbeddingItem{ItemID: id, X: x, Y: y, Category: e.catalog.Item(row).Category})
	}
	return out, nil
}
