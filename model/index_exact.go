package model

import "sync"

// ExactIndex is an Index that scores the query against every row (a
// brute-force scan with the vector kernels). Rows are stored L2-normalised and
// contiguous, so a search over n rows of dimension d streams 4*n*d bytes.
// It is immutable once built and safe for concurrent use.
type ExactIndex struct {
	dim  int
	n    int
	data []float32 // n unit (or zero) rows, row-major

	// scratch holds *exactScratch buffers so Search does not allocate.
	scratch sync.Pool
}

// exactScratch is the per-Search working memory of an ExactIndex.
type exactScratch struct {
	q      []float32 // the unit query
	scores [scanChunk]float32
}

// NewExactIndex returns an index over the n = len(vectors)/dim rows of the
// row-major matrix vectors. It copies the rows and scales each to unit
// length; a zero row stays zero and scores 0 against every query. vectors is
// not retained. It returns an error if dim <= 0, if len(vectors) is not a
// multiple of dim, if there are more than math.MaxInt32 rows or if a value is
// NaN or ±Inf. Zero rows (an empty index) are allowed.
func NewExactIndex(dim int, vectors []float32) (*ExactIndex, error) {
	n, err := checkVectors(dim, vectors)
	if err != nil {
		return nil, err
	}
	data := make([]float32, len(vectors))
	for r := range n {
		unitVector(data[r*dim:(r+1)*dim], vectors[r*dim:(r+1)*dim])
	}
	x := &ExactIndex{dim: dim, n: n, data: data}
	x.scratch.New = func() any { return &exactScratch{q: make([]float32, dim)} }
	return x, nil
}

// Len returns the number of rows.
func (x *ExactIndex) Len() int { return x.n }

// Dim returns the length of every row and query.
func (x *ExactIndex) Dim() int { return x.dim }

// Vector returns row r, normalised to unit length (or zero). The returned
// slice is owned by the index and must not be modified; its capacity is
// clipped so appending to it copies. It panics if r is out of [0, Len()).
func (x *ExactIndex) Vector(r int32) []float32 {
	lo, hi := int(r)*x.dim, (int(r)+1)*x.dim
	return x.data[lo:hi:hi]
}

// Search appends the best k accepted rows for q to dst, best first; see
// Index.Search for the contract. It scans every row, so it costs O(Len*Dim)
// whatever k and accept are; it allocates only if dst lacks capacity for
// min(k, Len()) more hits.
func (x *ExactIndex) Search(q []float32, k int, accept func(row int32) bool, dst []Hit) []Hit {
	if len(q) != x.dim || k <= 0 || x.n == 0 {
		return dst
	}
	s := x.scratch.Get().(*exactScratch)
	defer x.scratch.Put(s)
	unitVector(s.q, q)

	top := newTopK(dst, min(k, x.n))
	for start := 0; start < x.n; start += scanChunk {
		end := min(start+scanChunk, x.n)
		scores := s.scores[:end-start]
		dots(s.q, x.data[start*x.dim:end*x.dim], x.dim, scores)
		for i, v := range scores {
			// Rows come in increasing order, so a hit that only ties the
			// root has a higher row than it and loses: the test is strict.
			if top.full() && v <= top.h[0].Score {
				continue
			}
			row := int32(start + i)
			if accept != nil && !accept(row) {
				continue
			}
			top.push(Hit{Row: row, Score: v})
		}
	}
	return top.appendTo(dst)
}

// Scores sets the cosine of q with every row: it returns dst resized to
// Len() (reallocated if its capacity is short) with element r the score of
// row r, the same value Search reports for r. If len(q) != Dim() it returns
// dst[:0]. Scores costs one full scan and is meant for offline evaluation.
func (x *ExactIndex) Scores(q []float32, dst []float32) []float32 {
	if len(q) != x.dim {
		return dst[:0]
	}
	if cap(dst) < x.n {
		dst = make([]float32, x.n)
	}
	dst = dst[:x.n]
	s := x.scratch.Get().(*exactScratch)
	defer x.scratch.Put(s)
	unitVector(s.q, q)
	dots(s.q, x.data, x.dim, dst)
	return dst
}
