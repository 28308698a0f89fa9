package model

import (
	"math"
	"math/rand/v2"
)

// step is one training worker's scratch: the SGD step of skip-gram with
// negative sampling, in the form of word2vec.c, over encoded item vectors.
type step struct {
	t    *trainer
	rng  *rand.Rand
	v, g []float32 // the centre item's In encoding and its accumulated gradient
	o    []float32 // a context item's Ctx encoding
	buf  []Event
}

// session trains on one session at learning rate lr and returns the number
// of positive pairs it trained.
func (s *step) session(evs []Event, lr float32) int64 {
	t := s.t
	kept := s.buf[:0]
	for _, e := range evs {
		if k := t.keep[e.Item]; k >= 1 || s.rng.Float32() < k {
			kept = append(kept, e)
		}
	}
	s.buf = kept
	var pairs int64
	start := 0
	for i := 1; i <= len(kept); i++ {
		if i == len(kept) || i-start >= t.cfg.MaxPart || s.rng.IntN(t.cfg.PartSize) == 0 {
			pairs += s.part(kept[start:i], lr)
			start = i
		}
	}
	return pairs
}

// finite reports whether the last centre vector and its gradient are
// finite. A NaN or infinity in the In tables shows in the centre vectors
// they encode; one in the Ctx tables reaches the centre's gradient through
// the context vectors, so the check after a session sees a divergence
// within a session or two of its start at the cost of one pass over two
// vectors.
func (s *step) finite() bool {
	for _, vec := range [2][]float32{s.v, s.g} {
		for _, x := range vec {
			if x-x != 0 {
				return false
			}
		}
	}
	return true
}

// part pulls every item of p towards the context vectors of the others.
// The gradient of a centre item is accumulated over all its pairs and
// scattered into its parameters once, after them.
func (s *step) part(p []Event, lr float32) int64 {
	if len(p) < 2 {
		return 0
	}
	t := s.t
	var pairs int64
	for i, c := range p {
		f := &t.feats[c.Item]
		t.m.encode(&t.m.In, f, s.v)
		clear(s.g)
		n := 0
		for j, o := range p {
			if j == i || o.Item == c.Item {
				continue
			}
			alpha := lr
			if c.Purchase || o.Purchase {
				alpha *= t.cfg.PurchaseWeight
			}
			s.pair(o.Item, alpha)
			n++
		}
		if n > 0 {
			t.m.scatter(&t.m.In, f, 1, s.g)
			pairs += int64(n)
		}
	}
	return pairs
}

// pair runs one positive target and its negatives against the centre vector
// s.v, accumulating the centre's gradient in s.g.
func (s *step) pair(ctx int32, alpha float32) {
	t := s.t
	s.update(ctx, 1, alpha)
	for range t.cfg.Negatives {
		neg := t.negTable[s.rng.IntN(len(t.negTable))]
		if neg == ctx {
			continue
		}
		s.update(neg, 0, alpha)
	}
}

func (s *step) update(target int32, label, alpha float32) {
	m := s.t.m
	f := &s.t.feats[target]
	m.encode(&m.Ctx, f, s.o)
	gco := (label - sigmoid(Dot(s.v, s.o))) * alpha
	if gco == 0 {
		return
	}
	Axpy(gco, s.o, s.g)
	m.scatter(&m.Ctx, f, gco, s.v)
}

const (
	sigmoidMax   = 6
	sigmoidSteps = 1024
)

// sigmoidTable holds the logistic function on [-sigmoidMax, sigmoidMax]; it
// is computed once and never written after.
var sigmoidTable = func() (t [sigmoidSteps + 1]float32) {
	for i := range t {
		x := (float64(i)/sigmoidSteps*2 - 1) * sigmoidMax
		t[i] = float32(1 / (1 + math.Exp(-x)))
	}
	return t
}()

// sigmoid is the logistic function by table look-up, clamped to 0 and 1
// beyond ±sigmoidMax as word2vec does. NaN gives 0.5 (no gradient is
// certain); a diverged training is caught by step.finite after the session
// and by Model.finite at the end.
func sigmoid(x float32) float32 {
	switch {
	case x != x:
		return 0.5
	case x >= sigmoidMax:
		return 1
	case x <= -sigmoidMax:
		return 0
	}
	return sigmoidTable[int((x+sigmoidMax)*(sigmoidSteps/(2*sigmoidMax)))]
}
