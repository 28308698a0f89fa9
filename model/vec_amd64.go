//go:build amd64 && !purego

package model

import "golang.org/x/sys/cpu"

// useAVX2 reports whether the assembly kernels can run: they need AVX2 and
// FMA, and cpu.X86.HasAVX2 is only set when the OS saves the YMM registers.
// It is read-only after package initialisation.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// useF16C reports whether dotsF16 can run its assembly kernel, which also
// needs the F16C conversions. Every AVX2 CPU has them, but the flag is
// checked (x/sys/cpu reports it) rather than assumed, since a hypervisor may
// mask CPUID bits one by one. It is read-only after package initialisation.
var useF16C = useAVX2 && cpu.X86.HasF16C

// kernelName names the kernels dot, axpy and dots run, for benchmark labels.
func kernelName() string {
	if useAVX2 {
		return "avx2"
	}
	return "generic"
}

// dotAVX2 returns the inner product of a and b; len(b) must be >= len(a).
//
//go:noescape
func dotAVX2(a, b []float32) float32

// axpyAVX2 computes y += alpha*x; len(y) must be >= len(x).
//
//go:noescape
func axpyAVX2(alpha float32, x, y []float32)

// dotsAVX2 sets out[i] = q·rows[i*dim:(i+1)*dim] for every i < len(out).
// Callers guarantee len(q) == dim and len(rows) == len(out)*dim. Every row is
// summed in the same order whatever its position, so equal rows get
// bit-identical scores (the indexes rely on this for ties).
//
//go:noescape
func dotsAVX2(q, rows []float32, dim int, out []float32)

// dotsF16AVX2 sets out[i] = q·rows[i*stride:(i+1)*stride] for every i <
// len(out), the rows being halves. Callers guarantee stride > 0, stride%8 ==
// 0, len(q) == stride and len(rows) == len(out)*stride. Like dotsAVX2, it sums
// every row in the same order whatever its position.
//
//go:noescape
func dotsF16AVX2(q []float32, rows []uint16, stride int, out []float32)

// dots4AVX2 sets out[i*n+j] = q[i*dim:(i+1)*dim]·rows[j*dim:(j+1)*dim] for
// i < 4 and j < n = len(out)/4. Callers guarantee len(q) == 4*dim and
// len(rows) == n*dim.
//
//go:noescape
func dots4AVX2(q, rows []float32, dim int, out []float32)

func dot(a, b []float32) float32 {
	if useAVX2 {
		return dotAVX2(a, b)
	}
	return dotGeneric(a, b)
}

func axpy(alpha float32, x, y []float32) {
	if useAVX2 {
		axpyAVX2(alpha, x, y)
		return
	}
	axpyGeneric(alpha, x, y)
}

// dots sets out[i] to the inner product of q with row i of the row-major
// matrix rows. It panics if len(q) != dim or len(rows) != len(out)*dim.
func dots(q, rows []float32, dim int, out []float32) {
	checkDots(q, rows, dim, out)
	if useAVX2 {
		if len(out) > 0 && dim > 0 {
			dotsAVX2(q, rows, dim, out)
		} else {
			clear(out)
		}
		return
	}
	dotsGeneric(q, rows, dim, out)
}

// dotsF16 sets out[i] to the inner product of q with row i of the row-major
// half matrix rows, whose rows are stride halves long. It panics unless
// stride is a positive multiple of 8, len(q) == stride and len(rows) ==
// len(out)*stride.
func dotsF16(q []float32, rows []uint16, stride int, out []float32) {
	checkDotsF16(q, rows, stride, out)
	if useF16C {
		if len(out) > 0 {
			dotsF16AVX2(q, rows, stride, out)
		}
		return
	}
	dotsF16Generic(q, rows, stride, out)
}

// dots4 scores four queries, stored contiguously in q, against the rows of
// the row-major matrix rows: out[i*n+j] = query i · row j for n =
// len(rows)/dim. It panics if len(q) != 4*dim or len(out) != 4*n.
func dots4(q, rows []float32, dim int, out []float32) {
	checkDots4(q, rows, dim, out)
	if useAVX2 {
		if len(out) > 0 && dim > 0 {
			dots4AVX2(q, rows, dim, out)
		} else {
			clear(out)
		}
		return
	}
	dots4Generic(q, rows, dim, out)
}
