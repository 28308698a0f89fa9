package model

import "math"

// Dot returns the inner product of a and b. It reads min(len(a), len(b))
// elements.
func Dot(a, b []float32) float32 {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// Axpy adds alpha*x to y in place: y[i] += alpha*x[i] for i < min(len(x), len(y)).
func Axpy(alpha float32, x, y []float32) {
	n := min(len(x), len(y))
	x, y = x[:n], y[:n]
	for i := range x {
		y[i] += alpha * x[i]
	}
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
