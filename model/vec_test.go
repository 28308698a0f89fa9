package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// vecSeed is the seed of the random vectors in the vector tests; failures
// log it so a run can be repeated.
const vecSeed = 20240611

// vecImpls lists the Dot implementations under test: the dispatching one
// (assembly where the CPU allows) and the portable one.
var vecImpls = []struct {
	name  string
	dot   func(a, b []float32) float32
	axpy  func(alpha float32, x, y []float32)
	dots  func(q, rows []float32, dim int, out []float32)
	dots4 func(q, rows []float32, dim int, out []float32)
}{
	{"dispatch", dot, axpy, dots, dots4},
	{"generic", dotGeneric, axpyGeneric, dotsGeneric, dots4Generic},
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// dotRef returns the inner product in float64 and the sum of |a_i*b_i|, the
// scale against which the float32 rounding error is judged (the sum itself
// may cancel to near zero).
func dotRef(a, b []float32) (sum, scale float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		sum += p
		scale += math.Abs(p)
	}
	return sum, scale
}

// closeTo reports whether got is within relative 1e-5 of want, measured
// against scale.
func closeTo(got float32, want, scale float64) bool {
	return math.Abs(float64(got)-want) <= 1e-5*scale+1e-30
}

func TestDotMatchesFloat64(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 1))
	for _, impl := range vecImpls {
		t.Run(impl.name, func(t *testing.T) {
			for n := 0; n <= 300; n++ {
				// Offsets 0..3 make the slices start off any 32-byte boundary.
				off := n % 4
				a := randVec(rng, n+off)[off:]
				b := randVec(rng, n+3)[3:]
				want, scale := dotRef(a, b)
				if got := impl.dot(a, b); !closeTo(got, want, scale) {
					t.Fatalf("n=%d: dot got %v, want %v (seed %d)", n, got, want, vecSeed)
				}
			}
		})
	}
}

func TestDotExported(t *testing.T) {
	tests := []struct {
		name string
		a, b []float32
		want float32
	}{
		{"both empty", nil, nil, 0},
		{"one empty", []float32{1, 2}, nil, 0},
		{"shorter b", []float32{1, 2, 3}, []float32{4, 5}, 14},
		{"shorter a", []float32{1}, []float32{4, 5}, 4},
		{"four", []float32{1, 2, 3, 4}, []float32{1, 1, 1, 1}, 10},
		{"nine", []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 45},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Dot(tc.a, tc.b); got != tc.want {
				t.Errorf("Dot got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAxpyMatchesFloat64(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 2))
	const guard = 8
	for _, impl := range vecImpls {
		t.Run(impl.name, func(t *testing.T) {
			for n := 0; n <= 300; n++ {
				off := n % 4
				x := randVec(rng, n+off)[off:]
				// y sits inside a larger buffer with guard values on both
				// sides to catch out-of-bounds writes from the masked tail.
				buf := randVec(rng, n+2*guard)
				y := buf[guard : guard+n]
				before := append([]float32(nil), buf...)
				alpha := float32(rng.NormFloat64())
				impl.axpy(alpha, x, y)
				for i := range n {
					want := float64(before[guard+i]) + float64(alpha)*float64(x[i])
					scale := math.Abs(float64(before[guard+i])) + math.Abs(float64(alpha)*float64(x[i]))
					if !closeTo(y[i], want, scale) {
						t.Fatalf("n=%d: y[%d] got %v, want %v (seed %d)", n, i, y[i], want, vecSeed)
					}
				}
				for i := range guard {
					if buf[i] != before[i] || buf[guard+n+i] != before[guard+n+i] {
						t.Fatalf("n=%d: axpy wrote outside y (seed %d)", n, vecSeed)
					}
				}
			}
		})
	}
}

func TestAxpyExported(t *testing.T) {
	tests := []struct {
		name  string
		alpha float32
		x, y  []float32
		wantY []float32
	}{
		{"empty", 2, nil, nil, nil},
		{"x shorter", 2, []float32{1}, []float32{1, 1}, []float32{3, 1}},
		{"y shorter", 2, []float32{1, 1}, []float32{1}, []float32{3}},
		{"ten", -1, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, make([]float32, 10),
			[]float32{-1, -2, -3, -4, -5, -6, -7, -8, -9, -10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Axpy(tc.alpha, tc.x, tc.y)
			if fmt.Sprint(tc.y) != fmt.Sprint(tc.wantY) {
				t.Errorf("Axpy got y=%v, want %v", tc.y, tc.wantY)
			}
		})
	}
}

func TestDotsMatchesFloat64(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 3))
	const guard = 4
	for _, impl := range vecImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, dim := range []int{1, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 100, 129} {
				for n := range 10 {
					off := (dim + n) % 4
					q := randVec(rng, dim+off)[off:]
					rows := randVec(rng, n*dim+1)[1:]
					buf := randVec(rng, n+2*guard)
					out := buf[guard : guard+n]
					before := append([]float32(nil), buf...)
					impl.dots(q, rows, dim, out)
					for i := range n {
						want, scale := dotRef(q, rows[i*dim:(i+1)*dim])
						if !closeTo(out[i], want, scale) {
							t.Fatalf("dim=%d n=%d: out[%d] got %v, want %v (seed %d)", dim, n, i, out[i], want, vecSeed)
						}
					}
					for i := range guard {
						if buf[i] != before[i] || buf[guard+n+i] != before[guard+n+i] {
							t.Fatalf("dim=%d n=%d: dots wrote outside out (seed %d)", dim, n, vecSeed)
						}
					}
				}
			}
		})
	}
}

func TestDots4MatchesFloat64(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 8))
	const guard = 4
	for _, impl := range vecImpls {
		t.Run(impl.name, func(t *testing.T) {
			for _, dim := range []int{1, 3, 7, 8, 9, 16, 17, 100} {
				for n := range 8 {
					off := (dim + n) % 4
					q := randVec(rng, 4*dim+off)[off:]
					rows := randVec(rng, n*dim+1)[1:]
					buf := randVec(rng, 4*n+2*guard)
					out := buf[guard : guard+4*n]
					before := append([]float32(nil), buf...)
					impl.dots4(q, rows, dim, out)
					for i := range 4 {
						for j := range n {
							want, scale := dotRef(q[i*dim:(i+1)*dim], rows[j*dim:(j+1)*dim])
							if got := out[i*n+j]; !closeTo(got, want, scale) {
								t.Fatalf("dim=%d n=%d: query %d row %d got %v, want %v (seed %d)", dim, n, i, j, got, want, vecSeed)
							}
						}
					}
					for i := range guard {
						if buf[i] != before[i] || buf[guard+4*n+i] != before[guard+4*n+i] {
							t.Fatalf("dim=%d n=%d: dots4 wrote outside out (seed %d)", dim, n, vecSeed)
						}
					}
				}
			}
		})
	}
}

// TestDotsSameRowSameScore checks that equal rows score bit-identically
// wherever they sit; the indexes break ties by row and rely on it.
func TestDotsSameRowSameScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(vecSeed, 4))
	for _, dim := range []int{5, 8, 100} {
		q := randVec(rng, dim)
		r := randVec(rng, dim)
		const n = 11
		rows := make([]float32, 0, n*dim)
		for range n {
			rows = append(rows, r...)
		}
		out := make([]float32, n)
		dots(q, rows, dim, out)
		for i := range out {
			if out[i] != out[0] {
				t.Fatalf("dim=%d: out[%d] got %v, want %v like out[0]", dim, i, out[i], out[0])
			}
		}
	}
}

func TestDotsPanicsOnBadLengths(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("dots with len(rows) != len(out)*dim got no panic, want one")
		}
	}()
	dots(make([]float32, 4), make([]float32, 7), 4, make([]float32, 2))
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		v       []float32
		wantLen float32
		wantV   []float32
	}{
		{"zero", []float32{0, 0}, 0, []float32{0, 0}},
		{"empty", nil, 0, nil},
		{"3-4-5", []float32{3, 4}, 5, []float32{0.6, 0.8}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Normalize(tc.v)
			if got != tc.wantLen {
				t.Errorf("Normalize got length %v, want %v", got, tc.wantLen)
			}
			for i := range tc.v {
				if math.Abs(float64(tc.v[i]-tc.wantV[i])) > 1e-6 {
					t.Errorf("Normalize got v=%v, want %v", tc.v, tc.wantV)
					break
				}
			}
		})
	}
}

func BenchmarkDot(b *testing.B) {
	rng := rand.New(rand.NewPCG(vecSeed, 5))
	for _, dim := range []int{100} {
		x, y := randVec(rng, dim), randVec(rng, dim)
		for _, impl := range benchImpls() {
			b.Run(fmt.Sprintf("dim=%d/impl=%s", dim, impl.name), func(b *testing.B) {
				b.SetBytes(int64(8 * dim))
				var s float32
				for b.Loop() {
					s += impl.dot(x, y)
				}
				_ = s
			})
		}
	}
}

func BenchmarkAxpy(b *testing.B) {
	rng := rand.New(rand.NewPCG(vecSeed, 6))
	for _, dim := range []int{100} {
		x, y := randVec(rng, dim), randVec(rng, dim)
		for _, impl := range benchImpls() {
			b.Run(fmt.Sprintf("dim=%d/impl=%s", dim, impl.name), func(b *testing.B) {
				b.SetBytes(int64(8 * dim))
				for b.Loop() {
					impl.axpy(1e-6, x, y)
				}
			})
		}
	}
}

// BenchmarkDots measures the exact-search inner loop: one query against
// 1024 contiguous rows (400 KiB at dim 100, so it stays in L2).
func BenchmarkDots(b *testing.B) {
	rng := rand.New(rand.NewPCG(vecSeed, 7))
	const dim, n = 100, 1024
	q, rows, out := randVec(rng, dim), randVec(rng, n*dim), make([]float32, n)
	for _, impl := range benchImpls() {
		b.Run(fmt.Sprintf("dim=%d/rows=%d/impl=%s", dim, n, impl.name), func(b *testing.B) {
			b.SetBytes(int64(4 * n * dim))
			for b.Loop() {
				impl.dots(q, rows, dim, out)
			}
		})
	}
}

// BenchmarkDots4 measures the k-means assignment loop: four points against
// 1024 centroids.
func BenchmarkDots4(b *testing.B) {
	rng := rand.New(rand.NewPCG(vecSeed, 9))
	const dim, n = 100, 1024
	q, rows, out := randVec(rng, 4*dim), randVec(rng, n*dim), make([]float32, 4*n)
	for _, impl := range benchImpls() {
		b.Run(fmt.Sprintf("dim=%d/rows=%d/impl=%s", dim, n, impl.name), func(b *testing.B) {
			b.SetBytes(int64(4 * n * dim))
			for b.Loop() {
				impl.dots4(q, rows, dim, out)
			}
		})
	}
}

// benchImpls names the dispatching kernels "asm" when they run the AVX2
// assembly, so benchmark output says which one was measured.
func benchImpls() []struct {
	name  string
	dot   func(a, b []float32) float32
	axpy  func(alpha float32, x, y []float32)
	dots  func(q, rows []float32, dim int, out []float32)
	dots4 func(q, rows []float32, dim int, out []float32)
} {
	impls := append(vecImpls[:0:0], vecImpls...)
	if kernelName() == "avx2" {
		impls[0].name = "asm"
	}
	return impls
}
