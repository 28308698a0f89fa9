package model

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// indexSeed seeds the synthetic data of the index tests; tests log it.
const indexSeed = 7031

// clusteredVectors returns n rows of dimension dim drawn from a mixture of
// Gaussian clusters: a row is its cluster's centre (a random vector of
// length about 1) plus isotropic noise of total length about sigma. With
// sigma = 1.5 two rows of one cluster have a cosine near 0.3 and rows of
// different clusters near 0 (±0.1), so neighbours are mostly, but not only,
// found in the query's own cluster. The returned rows are not normalised.
func clusteredVectors(rng *rand.Rand, n, dim, clusters int, sigma float64) []float32 {
	centres := make([]float64, clusters*dim)
	for i := range centres {
		centres[i] = rng.NormFloat64() / math.Sqrt(float64(dim))
	}
	noise := sigma / math.Sqrt(float64(dim))
	out := make([]float32, n*dim)
	for r := range n {
		c := centres[rng.IntN(clusters)*dim:][:dim]
		for j := range dim {
			out[r*dim+j] = float32(c[j] + noise*rng.NormFloat64())
		}
	}
	return out
}

// refSearch is the naive reference of Search: every accepted row with its
// score from scores, sorted by score then row, cut to k.
func refSearch(scores []float32, k int, accept func(int32) bool) []Hit {
	var all []Hit
	for r, s := range scores {
		if accept == nil || accept(int32(r)) {
			all = append(all, Hit{Row: int32(r), Score: s})
		}
	}
	slices.SortFunc(all, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.Row, b.Row)
	})
	return all[:max(0, min(k, len(all)))]
}

// recall returns the fraction of the rows of want found in got.
func recall(got, want []Hit) float64 {
	if len(want) == 0 {
		return 1
	}
	in := make(map[int32]bool, len(got))
	for _, h := range got {
		in[h.Row] = true
	}
	n := 0
	for _, h := range want {
		if in[h.Row] {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

func TestNewIndexErrors(t *testing.T) {
	ctors := []struct {
		name string
		new  func(dim int, vs []float32) error
	}{
		{"exact", func(dim int, vs []float32) error { _, err := NewExactIndex(dim, vs); return err }},
		{"ivf", func(dim int, vs []float32) error { _, err := NewIVFIndex(dim, vs, IVFConfig{}); return err }},
	}
	tests := []struct {
		name    string
		dim     int
		vectors []float32
		wantErr bool
	}{
		{"zero dim", 0, nil, true},
		{"negative dim", -2, []float32{1, 2}, true},
		{"ragged length", 3, []float32{1, 2, 3, 4}, true},
		{"NaN", 2, []float32{1, 2, float32(math.NaN()), 0}, true},
		{"Inf", 2, []float32{1, float32(math.Inf(-1))}, true},
		{"empty", 4, nil, false},
		{"zero rows ok", 2, []float32{0, 0, 1, 0}, false},
	}
	for _, c := range ctors {
		for _, tc := range tests {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				err := c.new(tc.dim, tc.vectors)
				if !tc.wantErr {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				require.Regexp(t, "^model: ", err.Error())
			})
		}
	}
}

func TestNewIVFIndexConfigErrors(t *testing.T) {
	vs := []float32{1, 0, 0, 1}
	tests := []struct {
		name string
		cfg  IVFConfig
	}{
		{"lists", IVFConfig{Lists: -1}},
		{"probe", IVFConfig{Probe: -1}},
		{"iterations", IVFConfig{Iterations: -1}},
		{"sample", IVFConfig{Sample: -1}},
		{"workers", IVFConfig{Workers: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewIVFIndex(2, vs, tc.cfg)
			require.Error(t, err)
			require.Regexp(t, "^model: ivf config ", err.Error())
		})
	}
}

func TestIVFConfigDefaults(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		cfg       IVFConfig
		wantLists int
		wantProbe int
	}{
		{"10k", 10_000, IVFConfig{}, 400, 64},
		{"100k", 100_000, IVFConfig{}, 1265, 72},
		{"1M", 1_000_000, IVFConfig{}, 4000, 127},
		{"tiny", 3, IVFConfig{}, 3, 3},
		{"one", 1, IVFConfig{}, 1, 1},
		{"lists above n", 10, IVFConfig{Lists: 50}, 10, 10},
		{"probe above lists", 1000, IVFConfig{Lists: 8, Probe: 9}, 8, 8},
		{"explicit", 1000, IVFConfig{Lists: 100, Probe: 5}, 100, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.withDefaults(tc.n)
			if got.Lists != tc.wantLists || got.Probe != tc.wantProbe {
				t.Errorf("withDefaults(%d) got lists %d probe %d, want %d and %d", tc.n, got.Lists, got.Probe, tc.wantLists, tc.wantProbe)
			}
			if got.Iterations != 8 || got.Workers != 1 || got.Rand == nil || got.Sample < got.Lists || got.Sample > tc.n {
				t.Errorf("withDefaults(%d) got %+v, want iterations 8, workers 1, a Rand and lists <= sample <= n", tc.n, got)
			}
		})
	}
}

// exactFixture is a small index with ties (rows 10 and 20 are equal, rows
// 11 and 21 parallel) and zero rows (30 and 31).
func exactFixture(t *testing.T) (*ExactIndex, []float32) {
	t.Helper()
	const n, dim = 50, 8
	rng := rand.New(rand.NewPCG(indexSeed, 1))
	vs := randVec(rng, n*dim)
	copy(vs[20*dim:21*dim], vs[10*dim:11*dim])
	for j := range dim {
		vs[21*dim+j] = 3 * vs[11*dim+j]
	}
	clear(vs[30*dim : 32*dim])
	x, err := NewExactIndex(dim, vs)
	require.NoError(t, err)
	return x, vs
}

func TestExactSearch(t *testing.T) {
	t.Logf("seed %d", indexSeed)
	x, vs := exactFixture(t)
	dim := x.Dim()
	rng := rand.New(rand.NewPCG(indexSeed, 2))
	q := randVec(rng, dim)
	sentinel := Hit{Row: -7, Score: 42}
	tests := []struct {
		name   string
		q      []float32
		k      int
		accept func(int32) bool
		dst    []Hit
	}{
		{name: "k=0", q: q, k: 0},
		{name: "negative k", q: q, k: -1},
		{name: "k=1", q: q, k: 1},
		{name: "k=5", q: q, k: 5},
		{name: "k=n", q: q, k: 50},
		{name: "k>n", q: q, k: 1000},
		{name: "reject all", q: q, k: 5, accept: func(int32) bool { return false }},
		{name: "every 7th", q: q, k: 5, accept: func(r int32) bool { return r%7 == 0 }},
		{name: "fewer accepted than k", q: q, k: 10, accept: func(r int32) bool { return r == 3 || r == 30 || r == 44 }},
		{name: "tie of equal rows", q: vs[10*dim : 11*dim], k: 3},
		{name: "tie of parallel rows", q: vs[11*dim : 12*dim], k: 3},
		{name: "zero rows tie at 0", q: q, k: 50, accept: func(r int32) bool { return r >= 30 }},
		{name: "zero query", q: make([]float32, dim), k: 4},
		{name: "NaN query", q: append([]float32{float32(math.NaN())}, q[1:]...), k: 4},
		{name: "short query", q: q[:dim-1], k: 4},
		{name: "long query", q: append(q, 1), k: 4},
		{name: "appends to dst", q: q, k: 3, dst: []Hit{sentinel}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := slices.Clone(tc.dst)
			got := x.Search(tc.q, tc.k, tc.accept, dst)
			want := slices.Clone(tc.dst)
			if len(tc.q) == dim {
				want = append(want, refSearch(x.Scores(tc.q, nil), tc.k, tc.accept)...)
			}
			require.Equal(t, want, got, "Search got (first), want (second)")
		})
	}

	t.Run("ties break by row", func(t *testing.T) {
		got := x.Search(vs[10*dim:11*dim], 2, nil, nil)
		require.Equal(t, []int32{10, 20}, []int32{got[0].Row, got[1].Row})
		require.Equal(t, got[0].Score, got[1].Score)
		require.InDelta(t, 1, got[0].Score, 1e-6)
	})
	t.Run("zero query scores 0", func(t *testing.T) {
		got := x.Search(make([]float32, dim), 3, nil, nil)
		require.Equal(t, []Hit{{0, 0}, {1, 0}, {2, 0}}, got)
	})
}

func TestExactSearchRandom(t *testing.T) {
	t.Logf("seed %d", indexSeed)
	rng := rand.New(rand.NewPCG(indexSeed, 3))
	for _, n := range []int{1, 3, 255, 256, 257, 1000} {
		for _, dim := range []int{1, 5, 32, 100} {
			x, err := NewExactIndex(dim, randVec(rng, n*dim))
			require.NoError(t, err)
			for range 5 {
				q := randVec(rng, dim)
				accept := func(r int32) bool { return r%3 != 1 }
				scores := x.Scores(q, nil)
				for _, k := range []int{1, 20} {
					require.Equal(t, refSearch(scores, k, nil), x.Search(q, k, nil, nil), "n=%d dim=%d k=%d", n, dim, k)
					require.Equal(t, refSearch(scores, k, accept), x.Search(q, k, accept, nil), "n=%d dim=%d k=%d filtered", n, dim, k)
				}
			}
		}
	}
}

func TestExactScores(t *testing.T) {
	x, vs := exactFixture(t)
	dim := x.Dim()
	rng := rand.New(rand.NewPCG(indexSeed, 4))
	q := randVec(rng, dim)
	got := x.Scores(q, make([]float32, 3, 100))
	require.Len(t, got, x.Len())
	for r := range x.Len() {
		row := vs[r*dim : (r+1)*dim]
		dot, _ := dotRef(q, row)
		qq, _ := dotRef(q, q)
		rr, _ := dotRef(row, row)
		want := 0.0
		if rr > 0 {
			want = dot / math.Sqrt(qq*rr)
		}
		if math.Abs(float64(got[r])-want) > 1e-5 {
			t.Errorf("Scores row %d got %v, want %v", r, got[r], want)
		}
	}
	if got := x.Scores(q[:dim-1], make([]float32, 5)); len(got) != 0 {
		t.Errorf("Scores with a short query got %d scores, want 0", len(got))
	}
}

func TestExactVector(t *testing.T) {
	x, vs := exactFixture(t)
	dim := x.Dim()
	tests := []struct {
		name    string
		row     int32
		wantLen float64
	}{
		{"random row", 0, 1},
		{"scaled row", 21, 1},
		{"zero row", 30, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := x.Vector(tc.row)
			require.Len(t, v, dim)
			require.Equal(t, dim, cap(v), "Vector must clip capacity")
			ss, _ := dotRef(v, v)
			require.InDelta(t, tc.wantLen, math.Sqrt(ss), 1e-6)
			if tc.wantLen > 0 {
				raw := vs[int(tc.row)*dim : (int(tc.row)+1)*dim]
				for j := range dim {
					require.InDelta(t, raw[j]/Norm(raw), v[j], 1e-6)
				}
			}
		})
	}
	require.Panics(t, func() { x.Vector(int32(x.Len())) })
}

// ivfTestData is the clustered data set of the IVF tests: 20k rows of
// dimension 100 from 200 clusters, and 200 queries from the same mixture.
type ivfTestData struct {
	dim     int
	vectors []float32
	queries []float32
}

func newIVFTestData(t *testing.T, n int) ivfTestData {
	t.Helper()
	t.Logf("seed %d", indexSeed)
	const dim, nq = 100, 200
	rng := rand.New(rand.NewPCG(indexSeed, 5))
	all := clusteredVectors(rng, n+nq, dim, 200, 1.5)
	return ivfTestData{dim: dim, vectors: all[:n*dim], queries: all[n*dim:]}
}

func (d ivfTestData) query(i int) []float32 { return d.queries[i*d.dim : (i+1)*d.dim] }

func TestIVFRecall(t *testing.T) {
	d := newIVFTestData(t, 20_000)
	exact, err := NewExactIndex(d.dim, d.vectors)
	require.NoError(t, err)
	ivf, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{Rand: rand.New(rand.NewPCG(indexSeed, 6))})
	require.NoError(t, err)
	const k = 20
	var sum float64
	nq := len(d.queries) / d.dim
	for i := range nq {
		got := ivf.Search(d.query(i), k, nil, nil)
		want := exact.Search(d.query(i), k, nil, nil)
		require.Len(t, got, k)
		require.True(t, slices.IsSortedFunc(got, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) }), "hits not best first: %v", got)
		sum += recall(got, want)
	}
	r := sum / float64(nq)
	t.Logf("recall@%d %.4f with %d lists, probe %d", k, r, ivf.Lists(), ivf.Probe())
	if r < 0.95 {
		t.Errorf("IVF recall@%d got %.4f, want >= 0.95", k, r)
	}
}

// TestIVFProbeAllIsExact checks the list layout and scan: probing every list
// must give exactly the exact index's answer, scores included.
func TestIVFProbeAllIsExact(t *testing.T) {
	d := newIVFTestData(t, 3000)
	exact, err := NewExactIndex(d.dim, d.vectors)
	require.NoError(t, err)
	ivf, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{Lists: 30, Probe: 30})
	require.NoError(t, err)
	accept := func(r int32) bool { return r%5 == 2 }
	for i := range 20 {
		q := d.query(i)
		for _, k := range []int{1, 20, 5000} {
			require.Equal(t, exact.Search(q, k, nil, nil), ivf.Search(q, k, nil, nil), "query %d k=%d", i, k)
			require.Equal(t, exact.Search(q, k, accept, nil), ivf.Search(q, k, accept, nil), "query %d k=%d filtered", i, k)
		}
	}
}

// float32IVFSearch is the reference of IVFIndex.Search without the half
// precision scan: it probes the same lists (the best Probe() by centroid
// score, then further ones in that order until k rows are accepted) and
// ranks their accepted rows by float32 score, as Search did before it
// scanned halves.
func float32IVFSearch(x *IVFIndex, q []float32, k int, accept func(int32) bool) []Hit {
	uq := make([]float32, x.dim)
	unitVector(uq, q)
	cent := make([]float32, x.Lists())
	dots(uq, x.cent, x.dim, cent)
	lists := refSearch(cent, x.Lists(), nil)
	scores := make([]float32, x.n)
	for r := range x.n {
		dots(uq, x.data[r*x.dim:(r+1)*x.dim], x.dim, scores[r:r+1])
	}
	scanned := map[int32]bool{}
	accepted := 0
	for i, l := range lists {
		if i >= x.probe && accepted >= k {
			break
		}
		for _, r := range x.rows[x.offsets[l.Row]:x.offsets[l.Row+1]] {
			scanned[r] = true
			if accept == nil || accept(r) {
				accepted++
			}
		}
	}
	return refSearch(scores, k, func(r int32) bool { return scanned[r] && (accept == nil || accept(r)) })
}

// TestIVFMatchesFloat32Scan checks that scanning half rows and re-scoring
// the best of them in float32 loses nothing on the test data: Search
// returns what a float32 scan of the same lists returns, rows, order and
// scores, for every query.
func TestIVFMatchesFloat32Scan(t *testing.T) {
	d := newIVFTestData(t, 20_000)
	ivf, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{Rand: rand.New(rand.NewPCG(indexSeed, 9))})
	require.NoError(t, err)
	tests := []struct {
		name   string
		k      int
		accept func(int32) bool
	}{
		{"k=1", 1, nil},
		{"k=20", 20, nil},
		{"k=200", 200, nil},
		{"k=20 one row in 3", 20, func(r int32) bool { return r%3 == 0 }},
		{"k=20 one row in 500 (fallback)", 20, func(r int32) bool { return r%500 == 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range len(d.queries) / d.dim {
				want := float32IVFSearch(ivf, d.query(i), tc.k, tc.accept)
				got := ivf.Search(d.query(i), tc.k, tc.accept, nil)
				require.Equal(t, want, got, "query %d: Search got (second), float32 scan wants (first)", i)
			}
		})
	}
}

func TestIVFFilter(t *testing.T) {
	d := newIVFTestData(t, 5000)
	exact, err := NewExactIndex(d.dim, d.vectors)
	require.NoError(t, err)
	ivf, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{Rand: rand.New(rand.NewPCG(indexSeed, 7))})
	require.NoError(t, err)
	q := d.query(0)
	tests := []struct {
		name   string
		k      int
		accept func(int32) bool
		// exact: the filter leaves so few rows that the fallback must scan
		// every list and find the exact answer.
		exact bool
	}{
		{"reject all", 20, func(int32) bool { return false }, true},
		{"five rows", 20, func(r int32) bool { return r%1000 == 17 }, true},
		{"one row in 50", 20, func(r int32) bool { return r%50 == 3 }, false},
		{"half", 20, func(r int32) bool { return r%2 == 0 }, false},
		{"k above n", 6000, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := map[int32]int{}
			accept := tc.accept
			if accept != nil {
				accept = func(r int32) bool {
					calls[r]++
					return tc.accept(r)
				}
			}
			got := ivf.Search(q, tc.k, accept, nil)
			want := exact.Search(q, tc.k, tc.accept, nil)
			for r, n := range calls {
				if n > 1 {
					t.Fatalf("accept called %d times for row %d, want at most once", n, r)
				}
			}
			require.Len(t, got, len(want), "IVF must return min(k, accepted) hits")
			for _, h := range got {
				if tc.accept != nil && !tc.accept(h.Row) {
					t.Fatalf("Search returned rejected row %d", h.Row)
				}
			}
			if tc.exact {
				require.Equal(t, want, got)
			}
		})
	}
}

func TestIVFDeterministic(t *testing.T) {
	d := newIVFTestData(t, 3000)
	build := func(seed uint64, workers int) *IVFIndex {
		x, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{Rand: rand.New(rand.NewPCG(seed, 1)), Workers: workers})
		require.NoError(t, err)
		return x
	}
	a, b, c := build(1, 1), build(1, 1), build(1, 3)
	for _, other := range []*IVFIndex{b, c} {
		require.Equal(t, a.cent, other.cent, "centroids")
		require.Equal(t, a.offsets, other.offsets, "list offsets")
		require.Equal(t, a.rows, other.rows, "list rows")
		for i := range 10 {
			require.Equal(t, a.Search(d.query(i), 20, nil, nil), other.Search(d.query(i), 20, nil, nil))
		}
	}
	// The zero config uses a fixed seed.
	z1, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{})
	require.NoError(t, err)
	z2, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{})
	require.NoError(t, err)
	require.Equal(t, z1.rows, z2.rows)
}

func TestIVFSmall(t *testing.T) {
	tests := []struct {
		name    string
		vectors []float32
		q       []float32
		want    []Hit
	}{
		{"empty", nil, []float32{1, 0}, nil},
		{"one row", []float32{0, 2}, []float32{0, 1}, []Hit{{0, 1}}},
		{"zero rows", []float32{0, 0, 0, 0, 1, 0}, []float32{1, 0}, []Hit{{2, 1}, {0, 0}, {1, 0}}},
		{"opposite", []float32{1, 0, -1, 0, 0, 1}, []float32{-3, 0}, []Hit{{1, 1}, {2, 0}, {0, -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := NewIVFIndex(2, tc.vectors, IVFConfig{Lists: 5})
			require.NoError(t, err)
			require.Equal(t, len(tc.vectors)/2, x.Len())
			got := x.Search(tc.q, 10, nil, nil)
			require.Equal(t, tc.want, got)
			require.Nil(t, x.Search(tc.q[:1], 10, nil, nil), "wrong query length must return dst unchanged")
		})
	}
}

// TestIVFDegenerateData builds on data k-means cannot split (all rows
// equal, or all zero) and checks that Search still answers like an exact
// scan: every row ties, so the lowest rows win.
func TestIVFDegenerateData(t *testing.T) {
	const n, dim = 100, 4
	same := make([]float32, 0, n*dim)
	for range n {
		same = append(same, 1, 2, 3, 4)
	}
	tests := []struct {
		name    string
		vectors []float32
	}{
		{"equal rows", same},
		{"zero rows", make([]float32, n*dim)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exact, err := NewExactIndex(dim, tc.vectors)
			require.NoError(t, err)
			ivf, err := NewIVFIndex(dim, tc.vectors, IVFConfig{Lists: 10, Probe: 2})
			require.NoError(t, err)
			q := []float32{1, 0, 0, 0}
			require.Equal(t, exact.Search(q, 15, nil, nil), ivf.Search(q, 15, nil, nil))
		})
	}
}

func TestSearchConcurrent(t *testing.T) {
	d := newIVFTestData(t, 3000)
	exact, err := NewExactIndex(d.dim, d.vectors)
	require.NoError(t, err)
	ivf, err := NewIVFIndex(d.dim, d.vectors, IVFConfig{})
	require.NoError(t, err)
	for _, idx := range []Index{exact, ivf} {
		const nq = 40
		want := make([][]Hit, nq)
		for i := range nq {
			want[i] = idx.Search(d.query(i), 10, nil, nil)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := range 4 {
			wg.Go(func() {
				var dst []Hit
				for i := range nq {
					dst = idx.Search(d.query((i+w)%nq), 10, nil, dst[:0])
					if !slices.Equal(dst, want[(i+w)%nq]) {
						errs <- fmt.Errorf("query %d: concurrent Search got %v, want %v", (i+w)%nq, dst, want[(i+w)%nq])
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

// benchCorpus is the data of the search benchmarks at one size: clustered
// rows as in the IVF tests, queries from the same mixture, the exact index
// and its top-20 for every query (the ground truth of the IVF recall).
type benchCorpus struct {
	dim     int
	vectors []float32
	queries []float32
	exact   *ExactIndex
	truth   [][]Hit
	ivf     func() *IVFIndex
}

const (
	benchK       = 20
	benchQueries = 100
)

func (c *benchCorpus) query(i int) []float32 {
	i %= benchQueries
	return c.queries[i*c.dim : (i+1)*c.dim]
}

// benchSizes are the corpora of BenchmarkSearchExact and BenchmarkSearchIVF,
// each built on first use (the 1M one takes about a minute, mostly the IVF
// k-means) and then kept for the rest of the run.
var benchSizes = []struct {
	name   string
	corpus func() *benchCorpus
}{
	{"n=10k", sync.OnceValue(func() *benchCorpus { return newBenchCorpus(10_000) })},
	{"n=100k", sync.OnceValue(func() *benchCorpus { return newBenchCorpus(100_000) })},
	{"n=1M", sync.OnceValue(func() *benchCorpus { return newBenchCorpus(1_000_000) })},
}

func newBenchCorpus(n int) *benchCorpus {
	const dim = 100
	rng := rand.New(rand.NewPCG(indexSeed, uint64(n)))
	all := clusteredVectors(rng, n+benchQueries, dim, 200, 1.5)
	c := &benchCorpus{dim: dim, vectors: all[:n*dim], queries: all[n*dim:]}
	var err error
	if c.exact, err = NewExactIndex(dim, c.vectors); err != nil {
		panic(err)
	}
	for i := range benchQueries {
		c.truth = append(c.truth, c.exact.Search(c.query(i), benchK, nil, nil))
	}
	c.ivf = sync.OnceValue(func() *IVFIndex {
		x, err := NewIVFIndex(dim, c.vectors, IVFConfig{Rand: rand.New(rand.NewPCG(indexSeed, 8))})
		if err != nil {
			panic(err)
		}
		return x
	})
	return c
}

// BenchmarkSearchExact measures a top-20 brute-force search of one query on
// one goroutine.
func BenchmarkSearchExact(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			c := size.corpus()
			dst := make([]Hit, 0, benchK)
			i := 0
			for b.Loop() {
				dst = c.exact.Search(c.query(i), benchK, nil, dst[:0])
				i++
			}
		})
	}
}

// BenchmarkSearchIVF measures a top-20 IVF search with the default config
// on one goroutine and reports its recall@20 against the exact search over
// the benchmark's queries.
func BenchmarkSearchIVF(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			c := size.corpus()
			x := c.ivf()
			var sum float64
			for i := range benchQueries {
				sum += recall(x.Search(c.query(i), benchK, nil, nil), c.truth[i])
			}
			dst := make([]Hit, 0, benchK)
			i := 0
			for b.Loop() {
				dst = x.Search(c.query(i), benchK, nil, dst[:0])
				i++
			}
			b.ReportMetric(sum/benchQueries, "recall@20")
			b.ReportMetric(float64(x.Probe()), "probe")
			b.ReportMetric(float64(x.Lists()), "lists")
		})
	}
}

func ExampleExactIndex_Search() {
	// Three items in two dimensions; the query points along the first axis.
	idx, err := NewExactIndex(2, []float32{
		1, 0, // row 0
		0, 1, // row 1
		1, 1, // row 2
	})
	if err != nil {
		panic(err)
	}
	notRow0 := func(r int32) bool { return r != 0 }
	for _, h := range idx.Search([]float32{2, 0}, 2, notRow0, nil) {
		fmt.Printf("row %d cosine %.3f\n", h.Row, h.Score)
	}
	// Output:
	// row 2 cosine 0.707
	// row 1 cosine 0.000
}
