package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// f16Impls lists the dotsF16 implementations under test: the dispatching
// one (assembly where the CPU allows) and the portable one.
var f16Impls = []struct {
	name    string
	dotsF16 func(q []float32, rows []uint16, stride int, out []float32)
}{
	{"dispatch", dotsF16},
	{"generic", dotsF16Generic},
}

// isSignallingHalfNaN reports whether h is a NaN with the quiet bit clear.
func isSignallingHalfNaN(h uint16) bool {
	return h&0x7c00 == 0x7c00 && h&0x3ff != 0 && h&0x200 == 0
}

func TestHalfToFloat32(t *testing.T) {
	tests := []struct {
		name string
		h    uint16
		want float32
	}{
		{"zero", 0x0000, 0},
		{"one", 0x3c00, 1},
		{"minus two", 0xc000, -2},
		{"one plus ulp", 0x3c01, 1 + 0x1p-10},
		{"smallest subnormal", 0x0001, 0x1p-24},
		{"largest subnormal", 0x03ff, 1023 * 0x1p-24},
		{"negative subnormal", 0x8200, -0x1p-15},
		{"smallest normal", 0x0400, 0x1p-14},
		{"largest finite", 0x7bff, 65504},
		{"+Inf", 0x7c00, float32(math.Inf(1))},
		{"-Inf", 0xfc00, float32(math.Inf(-1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := halfToFloat32(tc.h); got != tc.want {
				t.Errorf("halfToFloat32(%#04x) got %v, want %v", tc.h, got, tc.want)
			}
		})
	}
	if got := halfToFloat32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("halfToFloat32(0x8000) got %v, want -0", got)
	}
	for _, h := range []uint16{0x7e00, 0xfe00, 0x7c01, 0x7fff} {
		if got := halfToFloat32(h); !math.IsNaN(float64(got)) {
			t.Errorf("halfToFloat32(%#04x) got %v, want NaN", h, got)
		}
	}
}

// TestHalfRoundTrip converts every half to float32 and back: each comes
// back as itself, but a signalling NaN, which comes back quiet.
func TestHalfRoundTrip(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		want := h
		if isSignallingHalfNaN(h) {
			want |= 0x200
		}
		if got := float32ToHalf(halfToFloat32(h)); got != want {
			t.Fatalf("float32ToHalf(halfToFloat32(%#04x)) got %#04x, want %#04x", h, got, want)
		}
	}
}

func TestFloat32ToHalf(t *testing.T) {
	tests := []struct {
		name string
		f    float32
		want uint16
	}{
		{"zero", 0, 0x0000},
		{"minus zero", float32(math.Copysign(0, -1)), 0x8000},
		{"one", 1, 0x3c00},
		{"third", 1.0 / 3, 0x3555},
		{"tie rounds down to even", 1 + 0x1p-11, 0x3c00},
		{"tie rounds up to even", 1 + 3*0x1p-11, 0x3c02},
		{"above tie rounds up", 1 + 0x1p-11 + 0x1p-23, 0x3c01},
		{"carry into exponent", 2 - 0x1p-12, 0x4000},
		{"largest finite", 65504, 0x7bff},
		{"below Inf tie", 65519.996, 0x7bff},
		{"Inf tie", 65520, 0x7c00},
		{"overflow", 1e10, 0x7c00},
		{"negative overflow", -70000, 0xfc00},
		{"+Inf", float32(math.Inf(1)), 0x7c00},
		{"-Inf", float32(math.Inf(-1)), 0xfc00},
		{"smallest normal", 0x1p-14, 0x0400},
		{"subnormal", 0x1p-15, 0x0200},
		{"subnormal tie to even", 3 * 0x1p-25, 0x0002},
		{"subnormal carry to normal", 1023.5 * 0x1p-24, 0x0400},
		{"half of smallest subnormal", 0x1p-25, 0x0000},
		{"above half of smallest subnormal", 0x1p-25 + 0x1p-40, 0x0001},
		{"negative tiny", -1e-10, 0x8000},
		{"float32 subnormal", 0x1p-140, 0x0000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := float32ToHalf(tc.f); got != tc.want {
				t.Errorf("float32ToHalf(%v) got %#04x, want %#04x", tc.f, got, tc.want)
			}
		})
	}
	for _, f := range []float64{math.NaN(), -math.NaN()} {
		got := float32ToHalf(float32(f))
		if got&0x7e00 != 0x7e00 || got&0x8000 != uint16(math.Float32bits(float32(f))>>16)&0x8000 {
			t.Errorf("float32ToHalf(%v) got %#04x, want a quiet NaN of the same sign", f, got)
		}
	}
}

// TestFloat32ToHalfNearest checks that float32ToHalf picks the nearest half,
// ties to even, for every float32 exponent in the half range and every
// 10-bit mantissa prefix, with the 13 bits below it set to values around
// the rounding point (which is exact there for normal halves) and some
// random ones. The reference compares distances to the neighbouring halves
// in float64, where they are exact.
func TestFloat32ToHalfNearest(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 20))
	lows := []uint32{0, 1, 0xfff, 0x1000, 0x1001, 0x1fff}
	for exp := uint32(0); exp <= 142; exp++ { // 2^15 <= 2^(142-127) < 65520
		for top := range uint32(1 << 10) {
			for i := range len(lows) + 2 {
				low := rng.Uint32() & 0x1fff
				if i < len(lows) {
					low = lows[i]
				}
				for _, sign := range []uint32{0, 1 << 31} {
					f := math.Float32frombits(sign | exp<<23 | top<<13 | low)
					checkNearestHalf(t, f)
				}
			}
		}
	}
}

// checkNearestHalf fails t unless float32ToHalf(f) is the half nearest to the
// finite f, ties to even.
func checkNearestHalf(t *testing.T, f float32) {
	t.Helper()
	h := float32ToHalf(f)
	a := math.Abs(float64(f))
	mag := h & 0x7fff
	value := func(m uint16) float64 {
		if m == 0x7c00 {
			return 65536 // where rounding puts the boundary to Inf
		}
		return math.Abs(float64(halfToFloat32(m)))
	}
	d := math.Abs(a - value(mag))
	var below, above = math.Inf(1), math.Inf(1)
	if mag > 0 {
		below = math.Abs(a - value(mag-1))
	}
	if mag < 0x7c00 {
		above = math.Abs(a - value(mag+1))
	}
	sameSign := math.Signbit(float64(f)) == (h&0x8000 != 0)
	if !sameSign || d > below || d > above || (d == below || d == above) && mag&1 != 0 {
		t.Fatalf("float32ToHalf(%v = %#08x) got %#04x (%v), not the nearest half with ties to even",
			f, math.Float32bits(f), h, halfToFloat32(h))
	}
}

// TestDotsF16Converts checks the kernels' half conversion against
// halfToFloat32 for every half: row i holds half i in lane i%8 and zeros
// elsewhere, and q is all ones, so out[i] is the half's value (a -0 comes
// out +0, and an Inf or NaN stays one).
func TestDotsF16Converts(t *testing.T) {
	const stride, n = 8, 1 << 16
	q := make([]float32, stride)
	for i := range q {
		q[i] = 1
	}
	rows := make([]uint16, n*stride)
	for i := range n {
		rows[i*stride+i%stride] = uint16(i)
	}
	for _, impl := range f16Impls {
		t.Run(impl.name, func(t *testing.T) {
			out := make([]float32, n)
			impl.dotsF16(q, rows, stride, out)
			for i, got := range out {
				want := halfToFloat32(uint16(i))
				if math.IsNaN(float64(want)) {
					if !math.IsNaN(float64(got)) {
						t.Fatalf("half %#04x: got %v, want NaN", i, got)
					}
					continue
				}
				if got != want {
					t.Fatalf("half %#04x: got %v, want %v", i, got, want)
				}
			}
		})
	}
}

// randHalfRows returns n rows of random unit vectors of dimension dim as
// halves padded to halfStride(dim), and the halves' float32 values (without
// the padding).
func randHalfRows(rng *rand.Rand, n, dim int) (rows []uint16, values []float32) {
	stride := halfStride(dim)
	rows = make([]uint16, n*stride)
	values = make([]float32, n*dim)
	v := make([]float32, dim)
	for i := range n {
		unitVector(v, randVec(rng, dim))
		halfRow(rows[i*stride:(i+1)*stride], v)
		for j := range dim {
			values[i*dim+j] = halfToFloat32(rows[i*stride+j])
		}
	}
	return rows, values
}

// TestDotsF16MatchesFloat64 checks both kernels against a float64 sum of the
// products of q with the rows' half values, within the float32 rounding
// tolerance of closeTo, and the kernels against each other within twice
// that (they sum in different orders, and the assembly fuses the multiply
// and add, so they are not bit-identical), for 0 to 9 rows and up to 300,
// and dims that are and are not multiples of 8.
func TestDotsF16MatchesFloat64(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 21))
	const guard = 4
	for _, dim := range []int{1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 100, 129} {
		stride := halfStride(dim)
		for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1 + rng.IntN(300)} {
			q := make([]float32, stride)
			unitVector(q[:dim], randVec(rng, dim))
			rows, values := randHalfRows(rng, n, dim)
			outs := make([][]float32, len(f16Impls))
			for k, impl := range f16Impls {
				buf := randVec(rng, n+2*guard)
				before := append([]float32(nil), buf...)
				out := buf[guard : guard+n]
				impl.dotsF16(q, rows, stride, out)
				for i := range n {
					want, scale := dotRef(q[:dim], values[i*dim:(i+1)*dim])
					if !closeTo(out[i], want, scale) {
						t.Fatalf("%s dim=%d n=%d: out[%d] got %v, want %v (seed %d)", impl.name, dim, n, i, out[i], want, vecSeed)
					}
				}
				for i := range guard {
					if buf[i] != before[i] || buf[guard+n+i] != before[guard+n+i] {
						t.Fatalf("%s dim=%d n=%d: dotsF16 wrote outside out (seed %d)", impl.name, dim, n, vecSeed)
					}
				}
				outs[k] = out
			}
			for i := range n {
				_, scale := dotRef(q[:dim], values[i*dim:(i+1)*dim])
				if d := math.Abs(float64(outs[0][i] - outs[1][i])); d > 2e-5*scale+1e-30 {
					t.Fatalf("dim=%d n=%d: out[%d] dispatch %v and generic %v differ by %g, want <= %g (seed %d)",
						dim, n, i, outs[0][i], outs[1][i], d, 2e-5*scale, vecSeed)
				}
			}
		}
	}
}

// TestDotsF16NearFloat32 bounds what storing unit rows as halves costs a
// score: at most 2^-11 (each normal half is within a relative 2^-11 of its
// float32 value, and sum |q_j r_j| <= 1 for unit q and r), plus 2^-25 for
// each subnormal one and the float32 rounding of both sums, under dim*2^-24
// together.
func TestDotsF16NearFloat32(t *testing.T) {
	t.Logf("seed %d", vecSeed)
	rng := rand.New(rand.NewPCG(vecSeed, 22))
	for _, dim := range []int{2, 16, 100, 300} {
		const n = 200
		stride := halfStride(dim)
		q := make([]float32, stride)
		unitVector(q[:dim], randVec(rng, dim))
		rows := make([]float32, n*dim)
		half := make([]uint16, n*stride)
		for i := range n {
			unitVector(rows[i*dim:(i+1)*dim], randVec(rng, dim))
			halfRow(half[i*stride:(i+1)*stride], rows[i*dim:(i+1)*dim])
		}
		want := make([]float32, n)
		got := make([]float32, n)
		dots(q[:dim], rows, dim, want)
		dotsF16(q, half, stride, got)
		var worst float64
		for i := range n {
			worst = max(worst, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("dim=%d: largest |half score - float32 score| %.3g", dim, worst)
		if bound := 0x1p-11 + float64(dim)*0x1p-24; worst > bound {
			t.Errorf("dim=%d: half scores got up to %g from float32 ones, want <= %g (seed %d)", dim, worst, bound, vecSeed)
		}
	}
}

// TestDotsF16SameRowSameScore checks that equal rows score bit-identically
// wherever they sit, as TestDotsSameRowSameScore does for dots.
func TestDotsF16SameRowSameScore(t *testing.T) {
	rng := rand.New(rand.NewPCG(vecSeed, 23))
	for _, dim := range []int{5, 8, 100} {
		stride := halfStride(dim)
		q := make([]float32, stride)
		copy(q, randVec(rng, dim))
		row, _ := randHalfRows(rng, 1, dim)
		const n = 11
		rows := make([]uint16, 0, n*stride)
		for range n {
			rows = append(rows, row...)
		}
		out := make([]float32, n)
		dotsF16(q, rows, stride, out)
		for i := range out {
			if out[i] != out[0] {
				t.Fatalf("dim=%d: out[%d] got %v, want %v like out[0]", dim, i, out[i], out[0])
			}
		}
	}
}

func TestDotsF16PanicsOnBadLengths(t *testing.T) {
	tests := []struct {
		name   string
		q      []float32
		rows   []uint16
		stride int
		out    []float32
	}{
		{"stride not a multiple of 8", make([]float32, 4), make([]uint16, 8), 4, make([]float32, 2)},
		{"zero stride", nil, nil, 0, nil},
		{"short q", make([]float32, 7), make([]uint16, 8), 8, make([]float32, 1)},
		{"short rows", make([]float32, 8), make([]uint16, 15), 8, make([]float32, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("dotsF16 got no panic, want one")
				}
			}()
			dotsF16(tc.q, tc.rows, tc.stride, tc.out)
		})
	}
}

// BenchmarkDotsF16 measures the IVF scan's inner loop on half rows: one
// query against 1024 contiguous rows (208 KiB at dim 100, so it stays in
// L2), beside BenchmarkDots on the same rows in float32 (400 KiB). Bytes
// are those read from the rows.
func BenchmarkDotsF16(b *testing.B) {
	rng := rand.New(rand.NewPCG(vecSeed, 24))
	const dim, n = 100, 1024
	stride := halfStride(dim)
	q := make([]float32, stride)
	copy(q, randVec(rng, dim))
	rows, _ := randHalfRows(rng, n, dim)
	out := make([]float32, n)
	name := "generic"
	if useF16C {
		name = "asm"
	}
	for _, impl := range []struct {
		name    string
		dotsF16 func(q []float32, rows []uint16, stride int, out []float32)
	}{{name, dotsF16}, {"generic", dotsF16Generic}} {
		b.Run(fmt.Sprintf("dim=%d/rows=%d/impl=%s", dim, n, impl.name), func(b *testing.B) {
			b.SetBytes(int64(2 * n * stride))
			for b.Loop() {
				impl.dotsF16(q, rows, stride, out)
			}
		})
	}
}
