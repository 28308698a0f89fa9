package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// IVFConfig configures NewIVFIndex. The zero value is valid: every field's
// zero means its default.
type IVFConfig struct {
	// Lists is the number of inverted lists, i.e. k-means clusters. Zero
	// means round(4*sqrt(n)) for n rows; any value is clamped to [1, n].
	Lists int
	// Probe is how many lists a Search scans: those whose centroids are most
	// similar to the query. Zero means max(ceil(2*sqrt(Lists)), 64): with
	// the default Lists that scans about n^(3/4) rows (3% of 1M), and gives
	// recall@20 above 0.95 on clustered data of 10k to 1M rows (see
	// BenchmarkSearchIVF). Values above Lists are clamped to Lists, which
	// makes Search exact.
	Probe int
	// Iterations is the number of Lloyd iterations of k-means. Zero means 8.
	Iterations int
	// Sample is how many rows k-means trains on; the rest are only assigned
	// to the final centroids. Zero means 32 per list; any value is clamped to
	// [Lists, n].
	Sample int
	// Workers is the number of goroutines NewIVFIndex scores rows against
	// centroids on, its main cost. Any number builds the same index. Zero
	// means 1.
	Workers int
	// Rand drives the choice of training sample and initial centroids. Nil
	// means a PCG with a fixed seed, so equal inputs always build equal
	// indexes. NewIVFIndex uses Rand only during the call, from the calling
	// goroutine, and does not retain it.
	Rand *rand.Rand
}

// IVFIndex is an approximate Index: an inverted-file index. Rows are
// clustered by spherical k-means and stored, normalised and in half
// precision, contiguously per cluster ("list"); a search scores the query
// against the centroids, scans only the Probe best lists and re-scores the
// best of them in float32. Rows in the same list as the query's true
// neighbours are found exactly, so recall depends on how many lists a
// neighbourhood straddles. Scores are bit-identical to those of an
// ExactIndex over the same rows. It is immutable once built and safe for
// concurrent use. It holds n*(4*dim + 2*roundup(dim, 8) + 4) bytes of rows,
// about 1.5 times an ExactIndex: the float32 rows stay for the re-scoring.
type IVFIndex struct {
	dim    int
	stride int // halfStride(dim): halves per row of half
	n      int
	probe  int

	cent    []float32 // len(offsets)-1 unit centroids, row-major
	offsets []int     // list l holds positions offsets[l] to offsets[l+1]-1
	rows    []int32   // row of the vector at each position
	// half holds the unit (or zero) vectors by position, row-major, as
	// halves padded with zeros to stride: the scan reads 2*stride bytes a
	// row instead of 4*dim.
	half []uint16
	data []float32 // unit (or zero) vectors by row, row-major, for re-scoring

	// scratch holds *ivfScratch buffers so Search does not allocate.
	scratch sync.Pool
}

// ivfScratch is the per-Search working memory of an IVFIndex.
type ivfScratch struct {
	q          []float32 // the unit query, zero-padded to the half stride
	centScores []float32 // query·centroid, one per list
	lists      []Hit     // lists as (list, centroid score), for probing
	cands      []Hit     // spare capacity holds the heap of half-scored candidates
	scores     [scanChunk]float32
	sink       float32 // the result of touch, stored so its loads are kept
}

// scanCandidates returns how many rows a search for the best k keeps from
// its half-precision scan to re-score in float32. A half score is within
// 2^-11 of the float32 one and typically within 2e-5 at dim 100 (see
// vec_f16.go), so a row of the float32 top k drops out of the candidates
// only if more rows than the margin, all scoring within a few 1e-5 below it,
// overtake it. On the clustered data of the IVF tests (20k and 100k rows,
// k of 1, 20 and 100, 200 queries each) one extra candidate was always
// enough, and none was not; the margin is for data with many near-equal
// rows. Each candidate costs a float32 dot product of a row that is likely
// not in cache.
func scanCandidates(k int) int { return k + k/8 + 8 }

// NewIVFIndex builds an IVF index over the n = len(vectors)/dim rows of the
// row-major matrix vectors. It copies and normalises the rows as
// NewExactIndex does and clusters them with spherical k-means, which costs
// about (Iterations*Sample + n) * Lists * dim multiply-adds, spread over
// cfg.Workers goroutines (about 25 s on one core for 1M rows of dim 100 with
// the defaults). vectors is not retained.
// It returns an error for the inputs NewExactIndex rejects and for negative
// config values.
func NewIVFIndex(dim int, vectors []float32, cfg IVFConfig) (*IVFIndex, error) {
	n, err := checkVectors(dim, vectors)
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"Lists", cfg.Lists}, {"Probe", cfg.Probe}, {"Iterations", cfg.Iterations}, {"Sample", cfg.Sample}, {"Workers", cfg.Workers}} {
		if f.v < 0 {
			return nil, fmt.Errorf("model: ivf config %s is %d, want >= 0", f.name, f.v)
		}
	}
	stride := halfStride(dim)
	x := &IVFIndex{dim: dim, stride: stride, n: n, offsets: []int{0}}
	if n == 0 {
		x.scratch.New = func() any { return &ivfScratch{q: make([]float32, stride)} }
		return x, nil
	}
	cfg = cfg.withDefaults(n)
	x.probe = cfg.Probe
	x.cent = trainCentroids(dim, vectors, n, cfg)

	// Assign every row to its nearest centroid, then lay the lists out one
	// after another with a counting sort (rows stay in increasing order
	// within a list).
	assign := make([]int32, n)
	assignRows(vectors, dim, x.cent, true, cfg.Workers, assign)
	offsets := make([]int, cfg.Lists+1)
	for _, l := range assign {
		offsets[l+1]++
	}
	for l := range cfg.Lists {
		offsets[l+1] += offsets[l]
	}
	next := slices.Clone(offsets[:cfg.Lists])
	x.offsets = offsets
	x.rows = make([]int32, n)
	x.data = make([]float32, n*dim)
	x.half = make([]uint16, n*stride)
	for r, l := range assign {
		p := next[l]
		next[l]++
		x.rows[p] = int32(r)
		v := x.data[r*dim : (r+1)*dim]
		unitVector(v, vectors[r*dim:(r+1)*dim])
		halfRow(x.half[p*stride:(p+1)*stride], v)
	}
	lists := cfg.Lists
	x.scratch.New = func() any {
		return &ivfScratch{
			q:          make([]float32, stride),
			centScores: make([]float32, lists),
			lists:      make([]Hit, lists),
		}
	}
	return x, nil
}

// trainCentroids runs spherical k-means on a normalised sample of the n rows
// of vectors, as configured by cfg (with defaults filled in), and returns the
// cfg.Lists unit centroids.
func trainCentroids(dim int, vectors []float32, n int, cfg IVFConfig) []float32 {
	// Only the sample is copied here, so the index's own data is the one
	// full copy a build makes.
	sample := make([]float32, cfg.Sample*dim)
	for i, r := range sampleRows(n, cfg.Sample, cfg.Rand) {
		unitVector(sample[i*dim:(i+1)*dim], vectors[int(r)*dim:(int(r)+1)*dim])
	}
	return sphericalKMeans(sample, cfg.Sample, dim, cfg.Lists, cfg.Iterations, cfg.Workers, cfg.Rand)
}

// sampleRows returns m distinct row numbers below n picked uniformly with a
// partial Fisher-Yates shuffle, sorted so the sample is read in order. For
// m >= n it returns every row and leaves rng untouched.
func sampleRows(n, m int, rng *rand.Rand) []int32 {
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	if m >= n {
		return idx
	}
	for i := range m {
		j := i + rng.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
	}
	idx = idx[:m]
	slices.Sort(idx)
	return idx
}

// withDefaults returns c with its zero fields set to the defaults for n > 0
// rows and every field clamped to its range.
func (c IVFConfig) withDefaults(n int) IVFConfig {
	if c.Lists == 0 {
		c.Lists = int(math.Round(4 * math.Sqrt(float64(n))))
	}
	c.Lists = min(max(c.Lists, 1), n)
	if c.Probe == 0 {
		c.Probe = max(int(math.Ceil(2*math.Sqrt(float64(c.Lists)))), 64)
	}
	c.Probe = min(c.Probe, c.Lists)
	if c.Iterations == 0 {
		c.Iterations = 8
	}
	if c.Sample == 0 {
		c.Sample = 32 * c.Lists
	}
	c.Sample = min(max(c.Sample, c.Lists), n)
	c.Workers = max(c.Workers, 1)
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(0x5e5510, 0x1f))
	}
	return c
}

// Len returns the number of rows.
func (x *IVFIndex) Len() int { return x.n }

// Dim returns the length of every row and query.
func (x *IVFIndex) Dim() int { return x.dim }

// Lists returns the number of inverted lists (k-means clusters).
func (x *IVFIndex) Lists() int { return len(x.offsets) - 1 }

// Probe returns how many lists a Search scans before any fallback.
func (x *IVFIndex) Probe() int { return x.probe }

// Search appends the best k accepted rows for q to dst, best first; see
// Index.Search for the contract. It scores q against the centroids and scans
// the Probe() lists with the most similar ones, so true neighbours in other
// lists are missed. When those lists hold fewer than k accepted rows (a
// selective accept, or k near Len), it goes on scanning lists in order of
// centroid similarity until it has k hits or has scanned every list, so it
// returns fewer than k hits only when fewer than k rows are accepted.
//
// The scan scores rows in half precision and keeps the best
// k + k/8 + 8 accepted ones, which it re-scores in float32 to pick and
// order the best k: the hits and their scores are those of a float32 scan
// of the same lists unless half rounding moves a row past that margin.
// accept is called for the rows that would enter those candidates, at most
// once per row. Search allocates only if dst lacks capacity for min(k,
// Len()) more hits or k is larger than in earlier searches (the candidates
// live in pooled scratch memory, grown on demand).
func (x *IVFIndex) Search(q []float32, k int, accept func(row int32) bool, dst []Hit) []Hit {
	if len(q) != x.dim || k <= 0 || x.n == 0 {
		return dst
	}
	s := x.scratch.Get().(*ivfScratch)
	defer x.scratch.Put(s)
	// s.q[x.dim:] is the zero padding of the half kernel and is never
	// written.
	q32 := s.q[:x.dim]
	unitVector(q32, q)
	dots(q32, x.cent, x.dim, s.centScores)

	// Pick the probe lists with the same bounded heap as the hits, scores
	// being centroid similarities and rows list numbers.
	probes := newTopK(s.lists[:0], x.probe)
	for l, v := range s.centScores {
		if h := (Hit{Row: int32(l), Score: v}); probes.admits(h) {
			probes.push(h)
		}
	}
	k = min(k, x.n)
	cands := newTopK(s.cands[:0], min(scanCandidates(k), x.n))
	for _, p := range probes.sorted() {
		x.scanList(int(p.Row), s, &cands, accept)
	}
	if len(cands.h) < k && x.probe < x.Lists() {
		// Fallback: rank every list; the first x.probe of the ranking are
		// the ones scanned above, since both orders use worse().
		all := s.lists[:x.Lists()]
		for l, v := range s.centScores {
			all[l] = Hit{Row: int32(l), Score: v}
		}
		slices.SortFunc(all, func(a, b Hit) int {
			if worse(b, a) {
				return -1
			}
			if worse(a, b) {
				return 1
			}
			return 0
		})
		for _, p := range all[x.probe:] {
			if len(cands.h) >= k {
				break
			}
			x.scanList(int(p.Row), s, &cands, accept)
		}
	}
	s.cands = cands.buf[:0] // keep the buffer if newTopK grew it

	// Re-score the candidates with the float32 rows and the kernel of
	// ExactIndex, so scores, and the order they give, are exact.
	top := newTopK(dst, k)
	score := s.scores[:1]
	s.sink = x.touch(cands.h)
	for _, c := range cands.h {
		r := int(c.Row)
		dots(q32, x.data[r*x.dim:(r+1)*x.dim], x.dim, score)
		if h := (Hit{Row: c.Row, Score: score[0]}); top.admits(h) {
			top.push(h)
		}
	}
	return top.appendTo(dst)
}

// scanList offers every accepted row of list l to cands, scored in half
// precision.
func (x *IVFIndex) scanList(l int, s *ivfScratch, cands *topK, accept func(row int32) bool) {
	for start, end := x.offsets[l], x.offsets[l+1]; start < end; start += scanChunk {
		stop := min(start+scanChunk, end)
		scores := s.scores[:stop-start]
		dotsF16(s.q, x.half[start*x.stride:stop*x.stride], x.stride, scores)
		for i, v := range scores {
			// Most rows score below the worst candidate: reject them before
			// loading their row numbers, which miss the cache at the start
			// of every list.
			if cands.full() && v < cands.h[0].Score {
				continue
			}
			h := Hit{Row: x.rows[start+i], Score: v}
			if !cands.admits(h) {
				continue
			}
			if accept != nil && !accept(h.Row) {
				continue
			}
			cands.push(h)
		}
	}
}

// touch loads one float of every cache line of the candidates' float32
// rows and returns their sum, which the caller stores so the loads are not
// optimised away. The rows are scattered over the index, so each is a few
// cache misses; these loads are independent, so the CPU overlaps the misses
// of many rows, where the dots calls of the re-scoring would meet them one
// row at a time (on the 100k benchmark, 8 us of a search down to 2).
func (x *IVFIndex) touch(cands []Hit) float32 {
	var sum float32
	for _, c := range cands {
		row := x.data[int(c.Row)*x.dim : (int(c.Row)+1)*x.dim]
		for j := 0; j < len(row); j += 16 {
			sum += row[j]
		}
		sum += row[len(row)-1]
	}
	return sum
}
