package model

import "math"

// Dot returns the inner product of a and b. It reads min(len(a), len(b))
// elements. On amd64 CPUs with AVX2 and FMA it runs an 8-wide assembly kernel
// whose summation order differs from a sequential loop, so results may differ
// from one in the last bits.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	return dot(a[:n], b[:n])
}

// Axpy adds alpha*x to y in place: y[i] += alpha*x[i] for i < min(len(x), len(y)).
// Elements of y past that length are not touched. x and y may alias only if
// they are the same slice.
func Axpy(alpha float32, x, y []float32) {
	n := min(len(x), len(y))
	axpy(alpha, x[:n], y[:n])
}

// Norm returns the Euclidean length of v.
func Norm(v []float32) float32 {
	return float32(math.Sqrt(float64(Dot(v, v))))
}

// Normalize scales v in place to unit length and returns its length before
// scaling. A zero vector is left as it is.
func Normalize(v []float32) float32 {
	n := Norm(v)
	if n == 0 {
		return 0
	}
	inv := 1 / n
	for i := range v {
		v[i] *= inv
	}
	return n
}

// The functions below are the portable kernels. They are always compiled so
// tests and benchmarks can compare them with the assembly ones; dot, axpy and
// dots (vec_amd64.go, vec_generic.go) pick the implementation.

// dotGeneric returns the inner product of a and b, which must have equal
// lengths. Four accumulators break the dependency chain of a single sum.
func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		a4, b4 := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += a4[0] * b4[0]
		s1 += a4[1] * b4[1]
		s2 += a4[2] * b4[2]
		s3 += a4[3] * b4[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGeneric computes y += alpha*x for x and y of equal lengths.
func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i := range x {
		y[i] += alpha * x[i]
	}
}

// dotsGeneric sets out[i] to the inner product of q with row i of the
// row-major matrix rows (len(out) rows of dim elements each).
func dotsGeneric(q, rows []float32, dim int, out []float32) {
	for i := range out {
		out[i] = dotGeneric(q, rows[i*dim:(i+1)*dim])
	}
}

// dots4Generic sets out[i*n+j] to the inner product of query i (q holds four
// contiguous queries of dim elements) with row j of rows, n = len(out)/4.
func dots4Generic(q, rows []float32, dim int, out []float32) {
	n := len(out) / 4
	for i := range 4 {
		dotsGeneric(q[i*dim:(i+1)*dim], rows, dim, out[i*n:(i+1)*n])
	}
}

// checkDots panics unless the arguments of dots are consistent. A mismatch is
// a bug in the caller (the assembly kernel trusts them), not bad input.
func checkDots(q, rows []float32, dim int, out []float32) {
	if len(q) != dim || len(rows) != len(out)*dim {
		panic("model: dots: inconsistent lengths")
	}
}

// checkDots4 is checkDots for dots4.
func checkDots4(q, rows []float32, dim int, out []float32) {
	if len(q) != 4*dim || len(out)%4 != 0 || len(rows) != len(out)/4*dim {
		panic("model: dots4: inconsistent lengths")
	}
}
