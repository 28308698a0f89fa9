package model

import (
	"math/rand/v2"
	"sync"
)

// sphericalKMeans clusters the m unit (or zero) rows of sample into k groups
// by cosine and returns the k unit centroids, row-major. It starts from k
// distinct sample rows picked with rng and runs iters Lloyd iterations:
// assign every row to its most similar centroid, then set each centroid to
// the normalised sum of its rows. A centroid left without rows is moved onto
// a random row of the largest group, which splits that group in the next
// iteration. The assignments run on workers goroutines, which does not
// change the result. k must be in [1, m].
func sphericalKMeans(sample []float32, m, dim, k, iters, workers int, rng *rand.Rand) []float32 {
	cent := make([]float32, k*dim)
	for i, r := range rng.Perm(m)[:k] {
		copy(cent[i*dim:(i+1)*dim], sample[r*dim:(r+1)*dim])
	}
	assign := make([]int32, m)
	counts := make([]int, k)
	sums := make([]float32, k*dim)
	for range iters {
		clear(counts)
		clear(sums)
		assignRows(sample, dim, cent, false, workers, assign)
		for r, c := range assign {
			counts[c]++
			axpy(1, sample[r*dim:(r+1)*dim], sums[int(c)*dim:(int(c)+1)*dim])
		}
		for c := range k {
			if counts[c] == 0 {
				splitLargest(c, sample, dim, assign, counts, sums, rng)
			}
			if counts[c] == 0 {
				continue // nothing to split: keep the centroid where it is
			}
			if !unitVector(cent[c*dim:(c+1)*dim], sums[c*dim:(c+1)*dim]) {
				// The rows of c cancel out (or are all zero): keep a member
				// as the centroid rather than a zero vector no query can
				// prefer.
				for r := range m {
					if int(assign[r]) == c {
						copy(cent[c*dim:(c+1)*dim], sample[r*dim:(r+1)*dim])
						break
					}
				}
			}
		}
	}
	return cent
}

// splitLargest gives the empty group c a random row of the largest group: it
// moves that row's contribution in sums, counts and assign to c.
func splitLargest(c int, sample []float32, dim int, assign []int32, counts []int, sums []float32, rng *rand.Rand) {
	big := 0
	for g, n := range counts {
		if n > counts[big] {
			big = g
		}
	}
	if counts[big] <= 1 {
		return // every group has at most one row: nothing to split
	}
	pick := rng.IntN(counts[big])
	for r, g := range assign {
		if int(g) != big {
			continue
		}
		if pick > 0 {
			pick--
			continue
		}
		v := sample[r*dim : (r+1)*dim]
		axpy(-1, v, sums[big*dim:(big+1)*dim])
		copy(sums[c*dim:(c+1)*dim], v)
		counts[big]--
		counts[c] = 1
		assign[r] = int32(c)
		return
	}
}

// assignRows sets assign[r] to the centroid nearest to row r of the
// row-major matrix vs, for every r < len(assign). If normalise is set the rows
// are scaled to unit length first (into a buffer; vs is not modified),
// otherwise they must be unit vectors already. The rows are split into
// workers contiguous ranges scored in parallel; each row's result does not
// depend on the split.
func assignRows(vs []float32, dim int, cent []float32, normalise bool, workers int, assign []int32) {
	n := len(assign)
	// Ranges are multiples of four rows so only the last one has a
	// remainder for nearest.assign to score one row at a time.
	per := (n/max(workers, 1) + 3) &^ 3
	if per == 0 || workers <= 1 {
		per = n
	}
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Go(func() {
			near := newNearest(cent, dim)
			if !normalise {
				near.assign(vs[lo*dim:hi*dim], assign[lo:hi])
				return
			}
			unit4 := make([]float32, 4*dim)
			for r := lo; r < hi; r += 4 {
				m := min(4, hi-r)
				for i := range m {
					unitVector(unit4[i*dim:(i+1)*dim], vs[(r+i)*dim:(r+i+1)*dim])
				}
				near.assign(unit4[:m*dim], assign[r:r+m])
			}
		})
	}
	wg.Wait()
}

// nearest finds the centroid most similar to a unit vector (the lowest
// index among equals). It scores four vectors per pass over the centroids
// with dots4, which reads the centroids (often more than L2 holds) a quarter
// as often as one vector at a time. It is not safe for concurrent use.
type nearest struct {
	cent   []float32
	dim    int
	k      int
	scores []float32 // 4*k
}

func newNearest(cent []float32, dim int) *nearest {
	k := len(cent) / dim
	return &nearest{cent: cent, dim: dim, k: k, scores: make([]float32, 4*k)}
}

// assign sets out[r] to the nearest centroid of row r of the row-major
// matrix vs, for r < len(out).
func (n *nearest) assign(vs []float32, out []int32) {
	r := 0
	for ; r+4 <= len(out); r += 4 {
		n.four(vs[r*n.dim:(r+4)*n.dim], out[r:r+4])
	}
	for ; r < len(out); r++ {
		out[r] = n.one(vs[r*n.dim : (r+1)*n.dim])
	}
}

// four sets out[i] to the nearest centroid of vector i of the four stored
// contiguously in v4.
func (n *nearest) four(v4 []float32, out []int32) {
	dots4(v4, n.cent, n.dim, n.scores)
	for i := range 4 {
		out[i] = argmax(n.scores[i*n.k : (i+1)*n.k])
	}
}

// one returns the nearest centroid of v.
func (n *nearest) one(v []float32) int32 {
	s := n.scores[:n.k]
	dots(v, n.cent, n.dim, s)
	return argmax(s)
}

// argmax returns the index of the largest element of s, the lowest among
// equals; s is not empty.
func argmax(s []float32) int32 {
	best := 0
	for i, v := range s {
		if v > s[best] {
			best = i
		}
	}
	return int32(best)
}
