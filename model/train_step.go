package model

import (
	"math"
	"math/rand/v2"
	"slices"
)

// step is one training worker's scratch: the SGD step of skip-gram with
// negative sampling, in the form of word2vec.c, over encoded item vectors.
type step struct {
	t     *trainer
	rng   *rand.Rand
	v, g  []float32 // the centre item's In encoding and its accumulated gradient
	vNorm float32   // |v|
	o     []float32 // a context item's Ctx encoding
	buf   []Event

	// The next-item objective's scratch: the last prefix mean and its
	// gradient, and per session (see next) the encodings of its items and
	// of its shared negatives with their accumulated gradients.
	h, gh       []float32
	in, ctx     [][]float32 // In and Ctx encodings of the session's items
	gin, gctx   [][]float32 // their gradients
	negs        []int32     // the session's negatives
	negv, gneg  [][]float32 // their Ctx encodings and gradients
	wts, logits []float32
	ctxn, negn  []float32 // norms of ctx and negv (1 without a temperature)
	cos         []float32 // cosines of the prefix mean to the targets
	hcos        float32   // Σ_j g_j cos_j of the position, for s.gh
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
	if !t.cfg.NextItemOnly {
		start := 0
		for i := 1; i <= len(kept); i++ {
			if i == len(kept) || i-start >= t.cfg.MaxPart || s.rng.IntN(t.cfg.PartSize) == 0 {
				pairs += s.part(kept[start:i], lr)
				start = i
			}
		}
	}
	if t.cfg.NextItem > 0 {
		pairs += s.next(kept, lr*t.cfg.NextItem)
	}
	return pairs
}

// finite reports whether the last centre vector and its gradient, and
// the last next-item prefix mean and its gradient, are finite. A NaN or infinity in the In tables shows in the centre vectors
// they encode; one in the Ctx tables reaches the centre's gradient through
// the context vectors (the prefix mean and its gradient likewise), so the
// check after a session sees a divergence
// within a session or two of its start at the cost of one pass over two
// vectors.
func (s *step) finite() bool {
	for _, vec := range [4][]float32{s.v, s.g, s.h, s.gh} {
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
		s.vNorm = Norm(s.v)
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
			t.m.scatter(&t.m.In, f, clipScale(Norm(s.g)), s.g)
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
	if a := float32(math.Abs(float64(gco))) * s.vNorm; a > maxStep {
		gco *= maxStep / a
	}
	Axpy(gco, s.o, s.g)
	m.scatter(&m.Ctx, f, gco, s.v)
}

// maxStep bounds the norm of every update an encoding takes: a context
// item's (gco times the centre's vector) and a centre's (its gradient
// summed over the pairs of its part). Healthy updates are far smaller; the
// bound only binds when a rate too high for the data would otherwise feed
// on itself (a shared category or brand row pulled by many pairs at once
// growing each step), so that the parameters stay finite whatever the
// rate: training is stable by construction, and the retry at half the rate
// (Train) is a second line that a stable training never reaches.
const maxStep = 1

// clipScale is the factor that brings an update of norm n within maxStep.
func clipScale(n float32) float32 {
	if n > maxStep {
		return maxStep / n
	}
	return 1
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

// next trains the next-item objective on the session evs at rate alpha and
// returns the number of positions trained. Each position t >= 1 has the
// prefix mean h = Σ_i w_i In(evs[i]) over the last NextItemWindow items
// before it, w_i ∝ exp(-(t-1-i)/NextItemDecay) summing to 1, and the loss
//
//	-log softmax_pos(h·Ctx(evs[t]), h·Ctx(n_1), ..., h·Ctx(n_K))
//
// over the K = NextItemNegatives negatives drawn once for the session (a
// negative that is the target is left out of that position's softmax),
// times PurchaseWeight when evs[t] was purchased; with NextItemTemperature
// τ > 0 each logit h·c is cos(h, c)/τ instead. The session is one
// mini-batch: the encodings are computed once, the gradients of all its
// positions are accumulated per item and per negative, and each is
// scattered into the tables once, at the end.
func (s *step) next(evs []Event, alpha float32) int64 {
	n := len(evs)
	if n < 2 {
		return 0
	}
	t := s.t
	m := t.m
	cfg := &t.cfg
	k := cfg.NextItemNegatives
	dim := cfg.Dims.Total()
	s.in, s.gin = growRows(s.in, n, dim), growRows(s.gin, n, dim)
	s.ctx, s.gctx = growRows(s.ctx, n, dim), growRows(s.gctx, n, dim)
	s.negv, s.gneg = growRows(s.negv, k, dim), growRows(s.gneg, k, dim)
	s.negs = slices.Grow(s.negs[:0], k)[:k]
	s.logits = slices.Grow(s.logits[:0], k+1)[:k+1]
	s.wts = slices.Grow(s.wts[:0], cfg.NextItemWindow)[:cfg.NextItemWindow]
	for i, e := range evs {
		f := &t.feats[e.Item]
		if i < n-1 {
			m.encode(&m.In, f, s.in[i])
			clear(s.gin[i])
		}
		if i > 0 {
			m.encode(&m.Ctx, f, s.ctx[i])
			clear(s.gctx[i])
		}
	}
	for j := range k {
		neg := t.negTable[s.rng.IntN(len(t.negTable))]
		s.negs[j] = neg
		m.encode(&m.Ctx, &t.feats[neg], s.negv[j])
		clear(s.gneg[j])
	}
	tau := cfg.NextItemTemperature
	cosine := tau > 0
	s.ctxn = slices.Grow(s.ctxn[:0], n)[:n]
	s.negn = slices.Grow(s.negn[:0], k)[:k]
	s.cos = slices.Grow(s.cos[:0], k+1)[:k+1]
	for i := range s.ctxn {
		s.ctxn[i] = 1
		if cosine && i > 0 {
			s.ctxn[i] = max(Norm(s.ctx[i]), normFloor)
		}
	}
	for j := range s.negn {
		s.negn[j] = 1
		if cosine {
			s.negn[j] = max(Norm(s.negv[j]), normFloor)
		}
	}
	for pos := 1; pos < n; pos++ {
		lo := max(0, pos-cfg.NextItemWindow)
		var z float32
		for i := lo; i < pos; i++ {
			z += t.recency[pos-1-i]
		}
		clear(s.h)
		for i := lo; i < pos; i++ {
			w := t.recency[pos-1-i] / z
			s.wts[i-lo] = w
			Axpy(w, s.in[i], s.h)
		}
		// Softmax over the positive (logit 0 of s.logits) and the
		// negatives other than the target; a left-out one gets -Inf.
		target := evs[pos].Item
		hn := float32(1)
		if cosine {
			hn = max(Norm(s.h), normFloor)
		}
		s.logits[0] = s.logit(hn, s.ctx[pos], s.ctxn[pos])
		top := s.logits[0]
		for j, neg := range s.negs {
			if neg == target {
				s.logits[j+1] = float32(math.Inf(-1))
				continue
			}
			s.logits[j+1] = s.logit(hn, s.negv[j], s.negn[j])
			top = max(top, s.logits[j+1])
		}
		var sum float64
		for j, l := range s.logits {
			e := math.Exp(float64(l - top))
			s.cos[j] = l * tau // the cosine, when cosine
			s.logits[j] = float32(e)
			sum += e
		}
		a := alpha
		if evs[pos].Purchase {
			a *= cfg.PurchaseWeight
		}
		// The descent step on logit j is a*(y_j - p_j).
		clear(s.gh)
		s.hcos = 0
		s.descend(a*(1-float32(float64(s.logits[0])/sum)), hn, s.ctx[pos], s.ctxn[pos], s.cos[0], s.gctx[pos])
		for j := range s.negs {
			p := float32(float64(s.logits[j+1]) / sum)
			if p == 0 {
				continue
			}
			s.descend(-a*p, hn, s.negv[j], s.negn[j], s.cos[j+1], s.gneg[j])
		}
		if cosine {
			// d cos_j/dh = (c_j/|c_j| - cos_j h/|h|)/|h|: descend added
			// the first terms; the second ones all lie along h.
			Axpy(-s.hcos/(hn*hn), s.h, s.gh)
		}
		for i := lo; i < pos; i++ {
			Axpy(s.wts[i-lo], s.gh, s.gin[i])
		}
	}
	for i, e := range evs {
		f := &t.feats[e.Item]
		if i < n-1 {
			m.scatter(&m.In, f, 1, s.gin[i])
		}
		if i > 0 {
			m.scatter(&m.Ctx, f, 1, s.gctx[i])
		}
	}
	for j, neg := range s.negs {
		m.scatter(&m.Ctx, &t.feats[neg], 1, s.gneg[j])
	}
	return int64(n - 1)
}

// normFloor keeps the cosine's gradient finite for a zero vector.
const normFloor = 1e-6

// logit is the next-item logit of a target with encoding c against the
// prefix mean s.h: s.h·c, or with a temperature cos(s.h, c)/temperature
// for hn = |s.h| and cn = |c|.
func (s *step) logit(hn float32, c []float32, cn float32) float32 {
	tau := s.t.cfg.NextItemTemperature
	if tau <= 0 {
		return Dot(s.h, c)
	}
	return Dot(s.h, c) / (hn * cn * tau)
}

// descend adds the descent step g on the logit of a target with encoding
// c to the gradients of the prefix mean (s.gh) and of the target (gc).
// With a temperature, for the cosine cos of s.h and c, only the part of
// the prefix mean's gradient along c is added; its part along s.h is
// summed in s.hcos for the caller to add once.
func (s *step) descend(g, hn float32, c []float32, cn, cos float32, gc []float32) {
	tau := s.t.cfg.NextItemTemperature
	if tau <= 0 {
		Axpy(g, c, s.gh)
		Axpy(g, s.h, gc)
		return
	}
	g /= tau
	Axpy(g/(hn*cn), c, s.gh)
	s.hcos += g * cos
	// d cos/dc = (h/|h| - cos c/|c|)/|c|
	Axpy(g/(hn*cn), s.h, gc)
	Axpy(-g*cos/(cn*cn), c, gc)
}

// growRows returns rows with at least n rows of dim elements.
func growRows(rows [][]float32, n, dim int) [][]float32 {
	for len(rows) < n {
		rows = append(rows, make([]float32, dim))
	}
	return rows
}
