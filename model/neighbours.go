package model

import (
	"fmt"
	"math"
)

// NeighbourConfig tunes [Neighbours]. Zero fields take the defaults, chosen
// on the validation splits.
type NeighbourConfig struct {
	// K is the number of neighbour sessions that vote. 0 means 100.
	K int
	// Sample is the number of candidate sessions: the most recent ones
	// that share an item with the session. 0 means 1000; negative means
	// all of them.
	Sample int
	// PrefixDecay is the decay, in items, of a session item's weight by
	// how far back it lies: the item d items before the last weighs
	// exp(-d/PrefixDecay). 0 means 2; negative means no decay.
	PrefixDecay float64
	// ItemDecay is the decay, in items, of a neighbour's vote for an
	// item by its distance in the neighbour session to the session item
	// they share that was seen last: exp(-d/ItemDecay). 0 means 4;
	// negative means no decay.
	ItemDecay float64
	// NoIDF turns off the weighting of shared items by their inverse
	// session frequency, log(sessions/sessions with the item).
	NoIDF bool
}

func (c *NeighbourConfig) fill() error {
	if c.K < 0 {
		return fmt.Errorf("model: neighbour config: k %d: want >= 0", c.K)
	}
	if c.K == 0 {
		c.K = 100
	}
	if c.Sample == 0 {
		c.Sample = 1000
	}
	if c.PrefixDecay == 0 {
		c.PrefixDecay = 2
	}
	if c.ItemDecay == 0 {
		c.ItemDecay = 4
	}
	return nil
}

// Len returns the number of items the sessions index.
func (n *Neighbours) Len() int { return n.nItems }

// Neighbours is the neighbourhood term of the ranking: items that sessions
// like this one went on to. It is session-based kNN with the sequence
// weights of STAN (Garg et al., SIGIR 2019): for a session s_1..s_n, each
// distinct item x weighs w_x = exp(-(n-pos_x)/PrefixDecay) for pos_x its
// last position. The candidates are the Sample most recent training
// sessions that hold one of the items; a candidate c is as similar as
//
//	sim(c) = Σ_{x ∈ s∩c} w_x idf_x
//
// and the K most similar vote: neighbour c gives each of its items y
//
//	sim(c) · exp(-|pos_c(y) - pos_c(m)|/ItemDecay)
//
// where m is the item of s∩c seen last in s. The training sessions are
// kept in time order, each as its distinct items in the order of their
// last occurrence. Neighbours is immutable after NewNeighbours and safe for
// concurrent use; each goroutine scores with its own [NeighbourScratch].
type Neighbours struct {
	cfg NeighbourConfig
	// Distinct items of each session (compressed rows), by last
	// occurrence.
	sessOff, sessItem []int32
	// Sessions holding each item, in increasing (time) order.
	itemOff, itemSess []int32
	idf               []float32
	nItems            int
	// itemW[d] is the weight of a vote d items from the shared item, for
	// every d a session allows; prefixW[d] the weight of a session item d
	// before the last, up to prefixTable (further back is computed).
	itemW, prefixW []float32
}

// prefixTable is how far back the session items' weights are tabled.
const prefixTable = 64

// decayTable returns exp(-d/lambda) for d in [0, n), all 1 for lambda <= 0.
func decayTable(n int, lambda float64) []float32 {
	t := make([]float32, n)
	for d := range t {
		t[d] = 1
		if lambda > 0 {
			t[d] = float32(math.Exp(-float64(d) / lambda))
		}
	}
	return t
}

// NewNeighbours indexes sessions, given oldest first as item indices in
// [0, nItems).
func NewNeighbours(sessions [][]int32, nItems int, cfg NeighbourConfig) (*Neighbours, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	n := &Neighbours{cfg: cfg, nItems: nItems, sessOff: make([]int32, 1, len(sessions)+1)}
	last := make([]int32, nItems) // session index + 1 of the last sighting
	lastPos := make([]int32, nItems)
	for si, s := range sessions {
		for i, x := range s {
			if x < 0 || int(x) >= nItems {
				return nil, fmt.Errorf("model: neighbours: session %d item %d outside [0, %d)", si, x, nItems)
			}
			last[x], lastPos[x] = int32(si)+1, int32(i)
		}
		for i, x := range s {
			if lastPos[x] == int32(i) && last[x] == int32(si)+1 {
				n.sessItem = append(n.sessItem, x)
			}
		}
		n.sessOff = append(n.sessOff, int32(len(n.sessItem)))
	}
	n.itemOff = make([]int32, nItems+1)
	for _, x := range n.sessItem {
		n.itemOff[x+1]++
	}
	for i := range nItems {
		n.itemOff[i+1] += n.itemOff[i]
	}
	n.itemSess = make([]int32, len(n.sessItem))
	fill := make([]int32, nItems)
	copy(fill, n.itemOff[:nItems])
	for s := range len(n.sessOff) - 1 {
		for _, x := range n.sessItem[n.sessOff[s]:n.sessOff[s+1]] {
			n.itemSess[fill[x]] = int32(s)
			fill[x]++
		}
	}
	n.idf = make([]float32, nItems)
	total := float64(len(sessions))
	for x := range nItems {
		n.idf[x] = 1
		if df := n.itemOff[x+1] - n.itemOff[x]; df > 0 && !cfg.NoIDF {
			n.idf[x] = float32(math.Log(total / float64(df)))
		}
	}
	longest := 1
	for s := range len(n.sessOff) - 1 {
		longest = max(longest, int(n.sessOff[s+1]-n.sessOff[s]))
	}
	n.itemW = decayTable(longest, cfg.ItemDecay)
	n.prefixW = decayTable(prefixTable, cfg.PrefixDecay)
	return n, nil
}

// NeighbourScratch is the scratch memory of one goroutine's scoring.
type NeighbourScratch struct {
	weight []float32 // per item: its weight in the session, when stamped
	pos    []int32   // per item: its last position in the session
	mark   []uint32
	stamp  uint32
	items  []int32
	cursor []int32
	cands  []int32
	top    []nbScored
	// Touched lists the items Score gave a vote, in no order.
	Touched []int32
}

type nbScored struct {
	sess  int32
	match int32 // position in the session of the shared item seen last
	sim   float32
}

// NewScratch returns scratch memory for Score.
func (n *Neighbours) NewScratch() *NeighbourScratch {
	return &NeighbourScratch{weight: make([]float32, n.nItems), pos: make([]int32, n.nItems), mark: make([]uint32, n.nItems)}
}

// Score adds to dst[y] the neighbours' vote for each item y (len(dst) must
// be the nItems of NewNeighbours), lists in sc.Touched the items whose
// entry it raised from 0, and returns the largest entry it wrote, 0 when
// no session shares an item with session. Items outside [0, nItems) in
// session are ignored.
func (n *Neighbours) Score(session []int32, dst []float32, sc *NeighbourScratch) float32 {
	sc.Touched = sc.Touched[:0]
	sc.stamp++
	if sc.stamp == 0 {
		clear(sc.mark)
		sc.stamp = 1
	}
	sc.items = sc.items[:0]
	last := len(session) - 1
	for i, x := range session {
		if x < 0 || int(x) >= n.nItems {
			continue
		}
		if sc.mark[x] != sc.stamp {
			sc.mark[x] = sc.stamp
			sc.items = append(sc.items, x)
		}
		sc.pos[x] = int32(i)
		var w float32
		switch d := last - i; {
		case d < prefixTable:
			w = n.prefixW[d]
		case n.cfg.PrefixDecay > 0:
			w = float32(math.Exp(-float64(d) / n.cfg.PrefixDecay))
		default:
			w = 1
		}
		sc.weight[x] = w * n.idf[x]
	}
	if len(sc.items) == 0 {
		return 0
	}
	n.candidates(sc)
	sc.top = sc.top[:0]
	for _, c := range sc.cands {
		var sim float32
		match, matchPos := int32(0), int32(-1)
		for p, x := range n.sessItem[n.sessOff[c]:n.sessOff[c+1]] {
			if sc.mark[x] != sc.stamp {
				continue
			}
			sim += sc.weight[x]
			if sc.pos[x] > matchPos {
				match, matchPos = int32(p), sc.pos[x]
			}
		}
		sc.push(nbScored{sess: c, match: match, sim: sim}, n.cfg.K)
	}
	var best float32
	for _, nb := range sc.top {
		items := n.sessItem[n.sessOff[nb.sess]:n.sessOff[nb.sess+1]]
		for p, y := range items {
			d := p - int(nb.match)
			if d < 0 {
				d = -d
			}
			v := nb.sim * n.itemW[d]
			if dst[y] == 0 && v > 0 {
				sc.Touched = append(sc.Touched, y)
			}
			dst[y] += v
			best = max(best, dst[y])
		}
	}
	return best
}

// push keeps the k most similar candidates in sc.top, a min-heap on
// (sim, sess): ties keep the more recent session.
func (sc *NeighbourScratch) push(s nbScored, k int) {
	less := func(a, b nbScored) bool { return a.sim < b.sim || (a.sim == b.sim && a.sess < b.sess) }
	h := sc.top
	if len(h) < k {
		h = append(h, s)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !less(h[i], h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
		sc.top = h
		return
	}
	if k == 0 || !less(h[0], s) {
		return
	}
	h[0] = s
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// candidates collects into sc.cands the Sample most recent sessions
// holding an item of sc.items.
func (n *Neighbours) candidates(sc *NeighbourScratch) {
	sc.cands, sc.cursor = RecentSessions(n.itemOff, n.itemSess, sc.items, n.cfg.Sample, sc.cands[:0], sc.cursor)
}

// RecentSessions appends to dst the limit (all, when negative) most recent
// sessions, most recent first, that hold one of items, for posting lists
// in compressed rows: the sessions of item x are sess[off[x]:off[x+1]], in
// increasing (time) order. It merges the items' lists from their ends
// through a max-heap of the lists, so each session taken costs
// O(log len(items)); cursor is scratch (two entries a list), returned for
// reuse.
func RecentSessions(off, sess, items []int32, limit int, dst, cursor []int32) ([]int32, []int32) {
	// h holds each list not yet spent as a pair: the position of its most
	// recent session not taken yet, and its first position. It is a
	// max-heap on the session at the former.
	h := cursor[:0]
	for _, x := range items {
		if off[x+1] > off[x] {
			h = append(h, off[x+1]-1, off[x])
		}
	}
	n := len(h) / 2
	for i := n/2 - 1; i >= 0; i-- {
		recentDown(h, sess, i, n)
	}
	base := len(dst)
	for n > 0 && (limit < 0 || len(dst)-base < limit) {
		// A session several items share comes up once from each of
		// their lists, one after another: it is taken once.
		if s := sess[h[0]]; len(dst) == base || dst[len(dst)-1] != s {
			dst = append(dst, s)
		}
		if h[0] > h[1] {
			h[0]--
		} else {
			n--
			h[0], h[1] = h[2*n], h[2*n+1]
		}
		recentDown(h, sess, 0, n)
	}
	return dst, h
}

// recentDown restores RecentSessions' heap of n lists below list i.
func recentDown(h, sess []int32, i, n int) {
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && sess[h[2*r]] > sess[h[2*l]] {
			m = r
		}
		if sess[h[2*m]] <= sess[h[2*i]] {
			return
		}
		h[2*i], h[2*m] = h[2*m], h[2*i]
		h[2*i+1], h[2*m+1] = h[2*m+1], h[2*i+1]
		i = m
	}
}
