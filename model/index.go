package model

import (
	"fmt"
	"math"
)

// Hit is one search result: a row of an index and its cosine similarity to
// the query, in [-1, 1] up to float32 rounding.
type Hit struct {
	// Row is the row of the vector in the matrix the index was built from.
	Row int32
	// Score is the cosine similarity of the row and the query.
	Score float32
}

// Index finds the rows most similar by cosine to a query vector.
// Implementations are safe for concurrent Search calls once built.
type Index interface {
	// Search appends to dst the k rows with the highest cosine to q, best
	// first (ties broken by lower row), skipping rows for which accept
	// returns false (accept may be nil = accept all), and returns the
	// extended slice. It returns fewer than k hits only when fewer than k
	// rows are accepted, and returns dst itself when it finds none. q need
	// not be normalised; a zero q, or one holding
	// NaN or ±Inf, scores 0 against every row. If len(q) != Dim() or k <= 0,
	// Search returns dst unchanged.
	//
	// accept is called on the calling goroutine, at most once per row, and
	// only for rows that would enter the current best k (or, for an index
	// that ranks candidates by an approximate score first, its current best
	// candidates), so it may be called for far fewer rows than Len().
	// Search does not retain q, accept or dst.
	Search(q []float32, k int, accept func(row int32) bool, dst []Hit) []Hit
	// Len returns the number of rows in the index.
	Len() int
	// Dim returns the length of every row and of the queries Search takes.
	Dim() int
}

var (
	_ Index = (*ExactIndex)(nil)
	_ Index = (*IVFIndex)(nil)
)

// scanChunk is how many rows a search scores per dots call: a 1 KiB score
// buffer that stays in L1 while the hits are picked out of it.
const scanChunk = 256

// checkVectors validates the arguments of an index constructor and returns
// the number of rows.
func checkVectors(dim int, vectors []float32) (int, error) {
	if dim <= 0 {
		return 0, fmt.Errorf("model: index dimension %d, want > 0", dim)
	}
	if len(vectors)%dim != 0 {
		return 0, fmt.Errorf("model: index vectors length %d is not a multiple of dimension %d", len(vectors), dim)
	}
	n := len(vectors) / dim
	if n > math.MaxInt32 {
		return 0, fmt.Errorf("model: index of %d rows, want at most %d", n, math.MaxInt32)
	}
	for i, v := range vectors {
		if v-v != 0 { // NaN or ±Inf
			return 0, fmt.Errorf("model: index row %d has a non-finite value %v", i/dim, v)
		}
	}
	return n, nil
}

// unitVector writes v scaled to unit length into dst (which may be v) and
// reports whether v was non-zero and finite; otherwise dst is zeroed. The
// norm is computed in float64 so that large finite values do not overflow.
func unitVector(dst, v []float32) bool {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsInf(ss, 0) || math.IsNaN(ss) {
		clear(dst[:len(v)])
		return false
	}
	inv := 1 / math.Sqrt(ss)
	dst = dst[:len(v)]
	for i, x := range v {
		dst[i] = float32(float64(x) * inv)
	}
	return true
}

// worse reports whether a ranks below b: a lower score, or an equal score
// and a higher row. Scores are never NaN: rows and queries are finite unit
// (or zero) vectors.
func worse(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.Row > b.Row
}

// topK keeps the k best hits offered to it in a min-heap whose root is the
// worst kept hit. The heap lives in memory the caller provides (the spare
// capacity of a Search dst), so offering a hit never allocates.
type topK struct {
	h   []Hit
	k   int
	buf []Hit // dst, grown if needed; h is buf[len(buf):len(buf)+k]
}

// newTopK returns a topK for the best k hits whose heap lives in
// dst[len(dst):len(dst)+k], in a grown copy of dst if its spare capacity is
// short.
func newTopK(dst []Hit, k int) topK {
	if cap(dst)-len(dst) < k {
		grown := make([]Hit, len(dst), len(dst)+k)
		copy(grown, dst)
		dst = grown
	}
	return topK{h: dst[len(dst) : len(dst) : len(dst)+k], k: k, buf: dst}
}

// full reports whether the heap holds k hits, so that a new hit must beat
// the root to get in.
func (t *topK) full() bool { return len(t.h) == t.k }

// admits reports whether x would enter the heap.
func (t *topK) admits(x Hit) bool { return len(t.h) < t.k || worse(t.h[0], x) }

// push adds x, evicting the worst hit if the heap is full. The caller has
// checked admits(x).
func (t *topK) push(x Hit) {
	if len(t.h) < t.k {
		t.h = append(t.h, x)
		t.up(len(t.h) - 1)
		return
	}
	t.h[0] = x
	t.down(0, len(t.h))
}

func (t *topK) up(i int) {
	h := t.h
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (t *topK) down(i, n int) {
	h := t.h[:n]
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && worse(h[r], h[l]) {
			m = r
		}
		if !worse(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// sorted sorts the kept hits best first in place (heapsort: each step moves
// the worst remaining hit to the end) and returns them. The heap is spent.
func (t *topK) sorted() []Hit {
	h := t.h
	for n := len(h) - 1; n > 0; n-- {
		h[0], h[n] = h[n], h[0]
		t.down(0, n)
	}
	return h
}

// appendTo returns dst extended by the kept hits, best first, or dst itself
// if no hit was kept. dst is the slice given to newTopK; the heap lives in its
// spare capacity (or a grown copy), so no copy is needed.
func (t *topK) appendTo(dst []Hit) []Hit {
	if len(t.h) == 0 {
		return dst
	}
	return t.buf[:len(t.buf)+len(t.sorted())]
}
