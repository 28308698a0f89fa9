//go:build !amd64 || purego

package model

// kernelName names the kernels dot, axpy and dots run, for benchmark labels.
func kernelName() string { return "generic" }

// useF16C reports whether dotsF16 runs an assembly kernel: never here.
const useF16C = false

func dot(a, b []float32) float32 { return dotGeneric(a, b) }

func axpy(alpha float32, x, y []float32) { axpyGeneric(alpha, x, y) }

// dots sets out[i] to the inner product of q with row i of the row-major
// matrix rows. It panics if len(q) != dim or len(rows) != len(out)*dim.
func dots(q, rows []float32, dim int, out []float32) {
	checkDots(q, rows, dim, out)
	dotsGeneric(q, rows, dim, out)
}

// dotsF16 sets out[i] to the inner product of q with row i of the row-major
// half matrix rows, whose rows are stride halves long. It panics unless
// stride is a positive multiple of 8, len(q) == stride and len(rows) ==
// len(out)*stride.
func dotsF16(q []float32, rows []uint16, stride int, out []float32) {
	checkDotsF16(q, rows, stride, out)
	dotsF16Generic(q, rows, stride, out)
}

// dots4 scores four queries, stored contiguously in q, against the rows of
// the row-major matrix rows: out[i*n+j] = query i · row j for n =
// len(rows)/dim. It panics if len(q) != 4*dim or len(out) != 4*n.
func dots4(q, rows []float32, dim int, out []float32) {
	checkDots4(q, rows, dim, out)
	dots4Generic(q, rows, dim, out)
}
