package model

import "math"

// Half precision (IEEE 754 binary16) rows for scans that are bound by memory
// bandwidth: a half has a sign bit, 5 exponent bits (bias 15) and 10
// mantissa bits, so it keeps about 3.3 significant decimal digits (relative
// error at most 2^-11 for a normal value) over magnitudes 2^-24 to 65504.
// The components of a unit vector are in [-1, 1], where the only loss is
// that rounding: a component below 2^-14 in magnitude becomes a subnormal
// half with absolute error at most 2^-25. A half row scores a float32 query
// within about 2^-11 of the float32 row's score (the Cauchy-Schwarz bound
// for unit vectors), far below the score gaps a search ranks by, but not
// bit-identically, so callers that promise exact scores re-score their
// candidates in float32.

// halfStride returns the number of halves a row of dim elements is stored
// in: dim rounded up to a multiple of 8, so the AVX2 kernel converts whole
// 8-lane blocks and needs no tail masks. The padding halves are zero, and so
// are the padding floats of the query, so they add nothing to a score.
func halfStride(dim int) int { return (dim + 7) &^ 7 }

// float32ToHalf returns the half nearest to f, ties to even (the rounding
// of VCVTPS2PH with imm8 = 0). Magnitudes from 65520 up round to ±Inf, as
// IEEE 754 says (65504 is the largest half); ±Inf stays ±Inf; a NaN becomes
// a quiet NaN of the same sign with the top 10 bits of its mantissa (the
// quiet bit set). Magnitudes up to 2^-25 become a zero of the same sign.
func float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15 // the biased half exponent
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e <= 0:
		// A half subnormal holds value/2^-24 = (mant|1<<23) * 2^(e-14):
		// shift right by 14-e with rounding. Below e = -10 the value is
		// under 2^-25, which rounds to zero (float32 subnormals included,
		// exp == 0, whose missing implicit bit does not matter there).
		if e < -10 {
			return sign
		}
		return sign | uint16(shiftRoundEven(mant|1<<23, uint(14-e)))
	}
	// A carry out of the mantissa bumps the exponent, and one out of
	// exponent 30 gives 0x7c00, +Inf: the bit layout does the right thing.
	return sign | uint16(shiftRoundEven(uint32(e)<<23|mant, 13))
}

// shiftRoundEven returns m / 2^s rounded to nearest, ties to even, for
// 0 < s < 32.
func shiftRoundEven(m uint32, s uint) uint32 {
	q := m >> s
	rem := m & (1<<s - 1)
	half := uint32(1) << (s - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}

// halfToFloat32 returns the value of the half h as a float32, which holds
// every half exactly (the conversion of VCVTPH2PS). A NaN keeps its sign and
// payload, so halfToFloat32 and float32ToHalf round-trip every half but the
// signalling NaNs, which come back quiet.
func halfToFloat32(h uint16) float32 {
	// Exponent and mantissa in their float32 places, the exponent still
	// biased by 15. Short enough to inline into dotsF16Generic.
	bits := uint32(h&0x7fff) << 13
	switch bits & 0x0f800000 {
	case 0x0f800000: // Inf or NaN: exponent 31 becomes 255
		bits += (255 - 31) << 23
	case 0: // zero or subnormal, mant*2^-24 = (2^-14 + mant*2^-24) - 2^-14 exactly
		bits = math.Float32bits(math.Float32frombits(bits+113<<23) - 0x1p-14)
	default:
		bits += (127 - 15) << 23
	}
	return math.Float32frombits(bits | uint32(h&0x8000)<<16)
}

// halfRow stores v as halves in dst[:len(v)] and zeroes the rest of dst
// (the padding up to halfStride).
func halfRow(dst []uint16, v []float32) {
	for j, f := range v {
		dst[j] = float32ToHalf(f)
	}
	clear(dst[len(v):])
}

// dotsF16Generic sets out[i] to the inner product of q with row i of the
// row-major half matrix rows (len(out) rows of stride halves each). stride is
// a multiple of 8 (see checkDotsF16).
func dotsF16Generic(q []float32, rows []uint16, stride int, out []float32) {
	q = q[:stride]
	for i := range out {
		row := rows[i*stride : (i+1)*stride]
		var s0, s1, s2, s3 float32
		for j := 0; j < stride; j += 4 {
			q4, r4 := q[j:j+4:j+4], row[j:j+4:j+4]
			s0 += q4[0] * halfToFloat32(r4[0])
			s1 += q4[1] * halfToFloat32(r4[1])
			s2 += q4[2] * halfToFloat32(r4[2])
			s3 += q4[3] * halfToFloat32(r4[3])
		}
		out[i] = (s0 + s1) + (s2 + s3)
	}
}

// checkDotsF16 panics unless the arguments of dotsF16 are consistent. A
// mismatch is a bug in the caller (the assembly kernel trusts them), not bad
// input.
func checkDotsF16(q []float32, rows []uint16, stride int, out []float32) {
	if stride <= 0 || stride%8 != 0 || len(q) != stride || len(rows) != len(out)*stride {
		panic("model: dotsF16: inconsistent lengths")
	}
}
