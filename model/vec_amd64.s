//go:build amd64 && !purego

#include "textflag.h"

// AVX2+FMA kernels for vec_amd64.go (dotsF16AVX2 also needs F16C). Operands
// are in Go assembler order (sources first, destination last):
// VFMADD231PS m, a, acc is acc += a*m.
// Tails shorter than eight floats use VMASKMOVPS, which neither reads nor
// writes (nor faults on) the masked-off lanes, so no kernel touches memory
// outside its slices.

// maskTail<> holds eight all-ones words followed by eight zero words. The
// eight words at byte offset 32-4*t select the first t lanes (0 < t < 8).
DATA maskTail<>+0x00(SB)/8, $0xffffffffffffffff
DATA maskTail<>+0x08(SB)/8, $0xffffffffffffffff
DATA maskTail<>+0x10(SB)/8, $0xffffffffffffffff
DATA maskTail<>+0x18(SB)/8, $0xffffffffffffffff
DATA maskTail<>+0x20(SB)/8, $0
DATA maskTail<>+0x28(SB)/8, $0
DATA maskTail<>+0x30(SB)/8, $0
DATA maskTail<>+0x38(SB)/8, $0
GLOBL maskTail<>(SB), RODATA|NOPTR, $64

// func dotAVX2(a, b []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   a_base+0(FP), SI
	MOVQ   a_len+8(FP), CX
	MOVQ   b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JL     dot8

dot32:
	// Four independent accumulators hide the FMA latency.
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         dot32

dot8:
	CMPQ        CX, $8
	JL          dottail
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot8

dottail:
	TESTQ       CX, CX
	JZ          dotreduce
	LEAQ        maskTail<>(SB), AX
	NEGQ        CX
	VMOVUPS     32(AX)(CX*4), Y8
	VMASKMOVPS  (SI), Y8, Y4
	VMASKMOVPS  (DI), Y8, Y5
	VFMADD231PS Y5, Y4, Y1

dotreduce:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+48(FP)
	RET

// func axpyAVX2(alpha float32, x, y []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS alpha+0(FP), Y0
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI
	CMPQ         CX, $32
	JL           axpy8

axpy32:
	VMOVUPS     (DI), Y1
	VMOVUPS     32(DI), Y2
	VMOVUPS     64(DI), Y3
	VMOVUPS     96(DI), Y4
	VFMADD231PS (SI), Y0, Y1
	VFMADD231PS 32(SI), Y0, Y2
	VFMADD231PS 64(SI), Y0, Y3
	VFMADD231PS 96(SI), Y0, Y4
	VMOVUPS     Y1, (DI)
	VMOVUPS     Y2, 32(DI)
	VMOVUPS     Y3, 64(DI)
	VMOVUPS     Y4, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         axpy32

axpy8:
	CMPQ        CX, $8
	JL          axpytail
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axpy8

axpytail:
	TESTQ       CX, CX
	JZ          axpydone
	LEAQ        maskTail<>(SB), AX
	NEGQ        CX
	VMOVUPS     32(AX)(CX*4), Y8
	VMASKMOVPS  (SI), Y8, Y5
	VMASKMOVPS  (DI), Y8, Y1
	VFMADD231PS Y5, Y0, Y1
	VMASKMOVPS  Y1, Y8, (DI)

axpydone:
	VZEROUPPER
	RET

// func dotsAVX2(q, rows []float32, dim int, out []float32)
//
// Rows are taken four at a time (R8..R11) so each load of q feeds four FMAs;
// each row has two accumulators (even and odd 8-float blocks). A final group
// of fewer than four rows runs the same code with all four pointers on one
// row and stores one lane, so every row is summed in exactly the same order.
//
// Registers: DX q, SI current row, BX row stride in bytes, DI out, CX rows
// left, AX byte offset within the row, R12 bytes covered by 16-float blocks,
// R13 bytes covered by 8-float blocks, Y15 tail mask.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-80
	MOVQ q_base+0(FP), DX
	MOVQ rows_base+24(FP), SI
	MOVQ dim+48(FP), BX
	MOVQ out_base+56(FP), DI
	MOVQ out_len+64(FP), CX

	// Tail mask for dim%8 lanes; all zero (and unused) when dim%8 == 0.
	MOVQ    BX, AX
	ANDQ    $7, AX
	NEGQ    AX
	LEAQ    maskTail<>(SB), R8
	VMOVUPS 32(R8)(AX*4), Y15

	MOVQ BX, R12
	ANDQ $-16, R12
	SHLQ $2, R12
	MOVQ BX, R13
	ANDQ $-8, R13
	SHLQ $2, R13
	SHLQ $2, BX

dotsrow:
	TESTQ CX, CX
	JZ    dotsdone
	MOVQ  SI, R8
	CMPQ  CX, $4
	JL    dotsone
	LEAQ  (SI)(BX*1), R9
	LEAQ  (R9)(BX*1), R10
	LEAQ  (R10)(BX*1), R11
	JMP   dotscompute

dotsone:
	MOVQ SI, R9
	MOVQ SI, R10
	MOVQ SI, R11

dotscompute:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX
	CMPQ   AX, R12
	JGE    dots8

dots16:
	VMOVUPS     (DX)(AX*1), Y8
	VMOVUPS     32(DX)(AX*1), Y9
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS 32(R8)(AX*1), Y9, Y4
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS 32(R9)(AX*1), Y9, Y5
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS 32(R10)(AX*1), Y9, Y6
	VFMADD231PS (R11)(AX*1), Y8, Y3
	VFMADD231PS 32(R11)(AX*1), Y9, Y7
	ADDQ        $64, AX
	CMPQ        AX, R12
	JL          dots16

dots8:
	// At most one 8-float block is left before the tail.
	CMPQ        AX, R13
	JGE         dotstail
	VMOVUPS     (DX)(AX*1), Y8
	VFMADD231PS (R8)(AX*1), Y8, Y0
	VFMADD231PS (R9)(AX*1), Y8, Y1
	VFMADD231PS (R10)(AX*1), Y8, Y2
	VFMADD231PS (R11)(AX*1), Y8, Y3
	ADDQ        $32, AX

dotstail:
	CMPQ        AX, BX
	JGE         dotsreduce
	VMASKMOVPS  (DX)(AX*1), Y15, Y8
	VMASKMOVPS  (R8)(AX*1), Y15, Y9
	VFMADD231PS Y9, Y8, Y4
	VMASKMOVPS  (R9)(AX*1), Y15, Y10
	VFMADD231PS Y10, Y8, Y5
	VMASKMOVPS  (R10)(AX*1), Y15, Y11
	VFMADD231PS Y11, Y8, Y6
	VMASKMOVPS  (R11)(AX*1), Y15, Y12
	VFMADD231PS Y12, Y8, Y7

dotsreduce:
	// Y0 = [r0 r1 r2 r3] summed lane-wise, then horizontally: hadd(Y0, Y1)
	// gives pairs of r0 and r1, hadd(Y2, Y3) of r2 and r3, and a last hadd
	// and a 128-bit fold leave X0 = [r0 r1 r2 r3].
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	CMPQ         CX, $4
	JL           dotsstoreone
	VMOVUPS      X0, (DI)
	ADDQ         $16, DI
	LEAQ         (SI)(BX*4), SI
	SUBQ         $4, CX
	JMP          dotsrow

dotsstoreone:
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   BX, SI
	DECQ   CX
	JMP    dotsrow

dotsdone:
	VZEROUPPER
	RET

// func dots4AVX2(q, rows []float32, dim int, out []float32)
//
// Four queries (q holds them contiguously, dim floats each) against n =
// len(out)/4 rows: out[i*n+j] = q_i·row_j. Rows are taken two at a time and
// each block of a row is loaded once for all four queries, so the kernel does
// eight FMAs per six loads and reads the rows a quarter as often as four
// dotsAVX2 calls would. A last odd row runs with both row pointers on it.
//
// Registers: R10..R13 queries, R8 and R9 rows, AX byte offset within a
// vector, BX vector stride in bytes, DX bytes covered by 8-float blocks, CX
// rows left, DI out for query 0, SI out stride (n*4), R14 scratch, Y15 tail
// mask, Y0..Y7 accumulators (query i, row r in Y(2i+r)).
TEXT ·dots4AVX2(SB), NOSPLIT, $0-80
	MOVQ q_base+0(FP), R10
	MOVQ rows_base+24(FP), R8
	MOVQ dim+48(FP), BX
	MOVQ out_base+56(FP), DI
	MOVQ out_len+64(FP), CX
	SHRQ $2, CX
	MOVQ CX, SI
	SHLQ $2, SI

	MOVQ    BX, AX
	ANDQ    $7, AX
	NEGQ    AX
	LEAQ    maskTail<>(SB), R14
	VMOVUPS 32(R14)(AX*4), Y15

	MOVQ BX, DX
	ANDQ $-8, DX
	SHLQ $2, DX
	SHLQ $2, BX
	LEAQ (R10)(BX*1), R11
	LEAQ (R11)(BX*1), R12
	LEAQ (R12)(BX*1), R13

d4row:
	TESTQ CX, CX
	JZ    d4done
	MOVQ  R8, R9
	CMPQ  CX, $2
	JL    d4compute
	ADDQ  BX, R9

d4compute:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX
	CMPQ   AX, DX
	JGE    d4tail

d4block:
	VMOVUPS     (R8)(AX*1), Y8
	VMOVUPS     (R9)(AX*1), Y9
	VMOVUPS     (R10)(AX*1), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VMOVUPS     (R11)(AX*1), Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VMOVUPS     (R12)(AX*1), Y12
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VMOVUPS     (R13)(AX*1), Y13
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7
	ADDQ        $32, AX
	CMPQ        AX, DX
	JL          d4block

d4tail:
	CMPQ        AX, BX
	JGE         d4reduce
	VMASKMOVPS  (R8)(AX*1), Y15, Y8
	VMASKMOVPS  (R9)(AX*1), Y15, Y9
	VMASKMOVPS  (R10)(AX*1), Y15, Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y1
	VMASKMOVPS  (R11)(AX*1), Y15, Y11
	VFMADD231PS Y8, Y11, Y2
	VFMADD231PS Y9, Y11, Y3
	VMASKMOVPS  (R12)(AX*1), Y15, Y12
	VFMADD231PS Y8, Y12, Y4
	VFMADD231PS Y9, Y12, Y5
	VMASKMOVPS  (R13)(AX*1), Y15, Y13
	VFMADD231PS Y8, Y13, Y6
	VFMADD231PS Y9, Y13, Y7

d4reduce:
	// X0 = [q0r0 q0r1 q1r0 q1r1], X4 = [q2r0 q2r1 q3r0 q3r1].
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X8
	VADDPS       X8, X0, X0
	VHADDPS      Y5, Y4, Y4
	VHADDPS      Y7, Y6, Y6
	VHADDPS      Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X9
	VADDPS       X9, X4, X4
	LEAQ         (DI)(SI*2), R14
	CMPQ         CX, $2
	JL           d4storeone
	VMOVLPS      X0, (DI)
	VMOVHPS      X0, (DI)(SI*1)
	VMOVLPS      X4, (R14)
	VMOVHPS      X4, (R14)(SI*1)
	ADDQ         $8, DI
	LEAQ         (R8)(BX*2), R8
	SUBQ         $2, CX
	JMP          d4row

d4storeone:
	VMOVSS     X0, (DI)
	VEXTRACTPS $2, X0, (DI)(SI*1)
	VMOVSS     X4, (R14)
	VEXTRACTPS $2, X4, (R14)(SI*1)
	ADDQ       $4, DI
	ADDQ       BX, R8
	DECQ       CX
	JMP        d4row

d4done:
	VZEROUPPER
	RET

// func dotsF16AVX2(q []float32, rows []uint16, stride int, out []float32)
//
// dotsAVX2 for half rows: VCVTPH2PS widens eight halves from memory to eight
// floats, which an FMA multiplies with eight floats of q. stride is a
// multiple of 8 and both q and the rows are zero-padded to it, so there is
// no tail. Rows are taken four at a time, each with two accumulators (even
// and odd 8-half blocks), and a last group of fewer than four rows runs with
// all four pointers on one row, so every row is summed in the same order.
//
// Each group first prefetches the group five ahead (20 rows, 4 KiB at dim
// 100). An IVF list is a few hundred rows, too short a stream for the
// hardware prefetcher alone to reach DRAM bandwidth: with the prefetch, a
// scan of 127 random 250-row lists of a 1M-row matrix took about a quarter
// less time (on an AMD EPYC), at a cost of about 15% on rows already in L2.
// A group that would run past the end of rows is not prefetched: the next
// list scanned lies elsewhere, and so no prefetch leaves the slice either.
//
// Registers: DX q, SI current row, BX row stride in bytes, DI out, CX rows
// left, AX byte offset within the row (the offset in q is twice it), R12
// bytes covered by 16-half blocks, R14 end of rows; R9 and R10 bound the
// prefetch before they become row pointers.
TEXT ·dotsF16AVX2(SB), NOSPLIT, $0-80
	MOVQ q_base+0(FP), DX
	MOVQ rows_base+24(FP), SI
	MOVQ stride+48(FP), BX
	MOVQ out_base+56(FP), DI
	MOVQ out_len+64(FP), CX
	MOVQ rows_len+32(FP), R14
	LEAQ (SI)(R14*2), R14
	MOVQ BX, R12
	ANDQ $-16, R12
	SHLQ $1, R12
	SHLQ $1, BX

f16row:
	TESTQ CX, CX
	JZ    f16done

	// R9 = SI + 20*BX, R10 = R9 + 4*BX: the group five ahead.
	LEAQ (SI)(BX*8), R9
	LEAQ (R9)(BX*8), R9
	LEAQ (R9)(BX*4), R9
	LEAQ (R9)(BX*4), R10
	CMPQ R10, R14
	JA   f16rowptrs

f16prefetch:
	PREFETCHT0 (R9)
	ADDQ       $64, R9
	CMPQ       R9, R10
	JB         f16prefetch

f16rowptrs:
	MOVQ  SI, R8
	CMPQ  CX, $4
	JL    f16one
	LEAQ  (SI)(BX*1), R9
	LEAQ  (R9)(BX*1), R10
	LEAQ  (R10)(BX*1), R11
	JMP   f16compute

f16one:
	MOVQ SI, R9
	MOVQ SI, R10
	MOVQ SI, R11

f16compute:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   AX, AX
	CMPQ   AX, R12
	JGE    f16last8

f16loop:
	VMOVUPS     (DX)(AX*2), Y8
	VMOVUPS     32(DX)(AX*2), Y9
	VCVTPH2PS   (R8)(AX*1), Y10
	VCVTPH2PS   16(R8)(AX*1), Y11
	VCVTPH2PS   (R9)(AX*1), Y12
	VCVTPH2PS   16(R9)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y9, Y4
	VFMADD231PS Y12, Y8, Y1
	VFMADD231PS Y13, Y9, Y5
	VCVTPH2PS   (R10)(AX*1), Y10
	VCVTPH2PS   16(R10)(AX*1), Y11
	VCVTPH2PS   (R11)(AX*1), Y12
	VCVTPH2PS   16(R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y2
	VFMADD231PS Y11, Y9, Y6
	VFMADD231PS Y12, Y8, Y3
	VFMADD231PS Y13, Y9, Y7
	ADDQ        $32, AX
	CMPQ        AX, R12
	JL          f16loop

f16last8:
	// At most one 8-half block is left.
	CMPQ        AX, BX
	JGE         f16reduce
	VMOVUPS     (DX)(AX*2), Y8
	VCVTPH2PS   (R8)(AX*1), Y10
	VCVTPH2PS   (R9)(AX*1), Y11
	VCVTPH2PS   (R10)(AX*1), Y12
	VCVTPH2PS   (R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y11, Y8, Y1
	VFMADD231PS Y12, Y8, Y2
	VFMADD231PS Y13, Y8, Y3

f16reduce:
	// As in dotsAVX2: X0 = [r0 r1 r2 r3].
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VHADDPS      Y1, Y0, Y0
	VHADDPS      Y3, Y2, Y2
	VHADDPS      Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	CMPQ         CX, $4
	JL           f16storeone
	VMOVUPS      X0, (DI)
	ADDQ         $16, DI
	LEAQ         (SI)(BX*4), SI
	SUBQ         $4, CX
	JMP          f16row

f16storeone:
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   BX, SI
	DECQ   CX
	JMP    f16row

f16done:
	VZEROUPPER
	RET
