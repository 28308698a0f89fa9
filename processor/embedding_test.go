package processor

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// Points on a known plane of a 12-dimensional space, spread three times
// as far along one of its directions as along the other, come back with
// that direction as x and the other as y, and their variances on them.
func TestPrincipalPlane(t *testing.T) {
	const dim = 12
	rng := rand.New(rand.NewPCG(1, 2))
	// Two orthonormal directions and an offset.
	u := make([]float64, dim)
	w := make([]float64, dim)
	off := make([]float64, dim)
	for i := range dim {
		u[i], w[i], off[i] = rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
	}
	unit := func(v []float64) {
		var s float64
		for _, f := range v {
			s += f * f
		}
		for i := range v {
			v[i] /= math.Sqrt(s)
		}
	}
	unit(u)
	var dot float64
	for i := range w {
		dot += u[i] * w[i]
	}
	for i := range w {
		w[i] -= dot * u[i]
	}
	unit(w)

	var vecs [][]float32
	var as, bs []float64
	for range 2000 {
		a, b := 3*rng.NormFloat64(), rng.NormFloat64()
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(off[i] + a*u[i] + b*w[i])
		}
		vecs = append(vecs, v)
		as, bs = append(as, a), append(bs, b)
	}
	p := principalPlane(vecs, dim)

	cos := func(a, b []float64) float64 {
		var s float64
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	require.InDelta(t, 1, math.Abs(cos(p.x, u)), 1e-3, "x is the direction of most variance")
	require.InDelta(t, 1, math.Abs(cos(p.y, w)), 1e-3, "y is the other direction of the plane")
	require.InDelta(t, 0, cos(p.x, p.y), 1e-9, "orthogonal")

	variance := func(xs []float64) float64 {
		var m, s float64
		for _, x := range xs {
			m += x
		}
		m /= float64(len(xs))
		for _, x := range xs {
			s += (x - m) * (x - m)
		}
		return s / float64(len(xs))
	}
	var xs, ys []float64
	for _, v := range vecs {
		x, y := p.project(v)
		xs, ys = append(xs, x), append(ys, y)
	}
	require.InDelta(t, variance(as), variance(xs), 1e-3*variance(as))
	require.InDelta(t, variance(bs), variance(ys), 1e-3*variance(as))
	require.Greater(t, variance(xs), 5*variance(ys))

	// Deterministic: the same points give the same plane.
	q := principalPlane(vecs, dim)
	require.Equal(t, p.x, q.x)
	require.Equal(t, p.y, q.y)
}

// Points that do not span a plane (all the same) project to the origin,
// not to NaN.
func TestPrincipalPlaneDegenerate(t *testing.T) {
	vecs := [][]float32{{1, 0, 0}, {1, 0, 0}, {1, 0, 0}}
	p := principalPlane(vecs, 3)
	x, y := p.project(vecs[0])
	require.Zero(t, x)
	require.Zero(t, y)
	// A line: x along it, y zero.
	p = principalPlane([][]float32{{0, 0, 1}, {0, 0, -1}, {0, 0, 0}}, 3)
	x, y = p.project([]float32{0, 0, 2})
	require.InDelta(t, 2, math.Abs(x), 1e-9)
	require.Zero(t, y)
}

// The catalogue map of the test engine: a sample with finite places.
func TestMapCatalogue(t *testing.T) {
	eng, err := testEngine()
	require.NoError(t, err)
	m := mapCatalogue(eng)
	require.NotEmpty(t, m.sample)
	require.LessOrEqual(t, len(m.sample), embeddingSample)
	for _, it := range m.sample {
		require.False(t, math.IsNaN(it.X) || math.IsInf(it.X, 0) || math.IsNaN(it.Y) || math.IsInf(it.Y, 0), "%+v", it)
		require.True(t, m.in[it.ItemID])
	}
}

// An included item outside the sample is placed on the sample's plane,
// where the whole catalogue's map puts it; an unknown one is left out.
func TestEmbeddingIncludesItemsOutsideTheSample(t *testing.T) {
	eng, err := testEngine()
	require.NoError(t, err)
	full := mapCatalogue(eng)
	out := full.sample[0]
	// The same plane over all but the first item.
	part := &catalogueMap{plane: full.plane, sample: full.sample[1:], in: map[string]bool{}}
	for _, it := range part.sample {
		part.in[it.ItemID] = true
	}
	done := make(chan struct{})
	close(done)
	qa := &queryAPI{engine: func() *Engine { return eng }, embedding: embeddingCache{eng: eng, done: done, m: part}}
	got, err := qa.apiEmbedding(t.Context(), httptest.NewRequest(http.MethodGet, "/v1/embedding?include="+out.ItemID+",no-such-item,"+part.sample[0].ItemID, nil))
	require.NoError(t, err)
	items := got.(EmbeddingResponse).Items
	require.Len(t, items, len(full.sample), "the sample, and the one item outside it, once")
	require.Equal(t, out, items[len(items)-1])
}
