package model

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// RankOptions are the knobs of a ranking, settable per query. Unlike the
// config structs, a zero field is a real value where zero means something
// (no diversity, no history); DefaultRankOptions gives the defaults.
type RankOptions struct {
	// K is the number of items to return, in [1, MaxK]. 0 means 10.
	K int
	// Diversity in [0, 1] trades relevance for variety by maximal marginal
	// relevance: 0 ranks by relevance alone, 1 picks each next item as far
	// as possible from those already picked.
	Diversity float32
	// History in [0, 1] is the weight of the intents of past sessions
	// against the current session's: 0 ignores them, 1 leaves the current
	// session nothing. Without a current session, past intents take it all.
	History float32
	// HalfLife is how fast past intents fade: the weight of a past intent
	// halves every HalfLife since its LastSeen. 0 means 24h.
	HalfLife time.Duration
	// Now is the time past intents are aged to. Zero means the latest
	// LastSeen of the intents ranked.
	Now time.Time
	// Filter restricts the candidates.
	Filter Filter
	// Neighbours in [0, 1] is the weight of the neighbourhood term: what
	// training sessions like this one went on to (Neighbours), against
	// the vectors' cosines. 0 ranks by the vectors alone; a model without
	// a SessionLog has no neighbourhood term. DefaultRankOptions gives
	// DefaultNeighbours.
	Neighbours float32
	// Recent is the current session's item IDs, oldest first: what the
	// neighbourhood term looks for in the training sessions, and what
	// Repeat raises.
	Recent []string
	// Repeat in [0, 1] raises the items of the current session (Recent)
	// that the filter lets through, for shoppers who go back to what they
	// saw: the latest by 1, above every other item, and each earlier one
	// by Repeat. 0 leaves them where they score. DefaultRepeat was chosen
	// on the validation splits, where a quarter to a third of the next
	// items are items of the session.
	Repeat float32
	// Sequence in [0, 1] raises the items the training sessions went on
	// to right after the session's latest item (Recent's last), by
	// Sequence times their weight (sequence.go); 0 leaves them where they
	// score. A model without a SessionLog has no such term.
	// DefaultSequence was chosen on the validation splits.
	Sequence float32
}

// DefaultRepeat is the default RankOptions.Repeat.
const DefaultRepeat = 0.03

// DefaultSequence is the default RankOptions.Sequence.
const DefaultSequence = 0.03

// DefaultNeighbours is the default weight of the neighbourhood term,
// chosen on the validation splits.
const DefaultNeighbours = 0.5

// blendTemperature turns the vectors' score s of an item into
// exp((s-best)/blendTemperature) before it is blended with the
// neighbourhood term, so that both are on a scale of 0 to 1 with 1 for
// the best item; chosen on the validation splits.
const blendTemperature = 0.05

// MaxK is the largest K a ranking returns.
const MaxK = 1000

// Candidates returns how many items each intent proposes to a ranking with
// these options: K, or with Diversity > 0 max(3K, K+20) (at most 3 MaxK),
// from which maximal marginal relevance picks K. A zero K counts as 10.
func (o RankOptions) Candidates() int {
	k := o.K
	if k == 0 {
		k = 10
	}
	if o.Diversity > 0 {
		return min(max(3*k, k+20), 3*MaxK)
	}
	return k
}

// Work returns what the diversity step of a ranking with these options
// costs per intent ranked, in vector pairs scored: K times Candidates with
// Diversity > 0 (each of the K picks scores the candidates left against
// the item picked), 0 without. A ranking of n intents scores up to n times
// Work pairs of vectors, a dot product each. A zero K counts as 10.
func (o RankOptions) Work() int {
	if !(o.Diversity > 0) {
		return 0
	}
	k := o.K
	if k == 0 {
		k = 10
	}
	return k * o.Candidates()
}

// DefaultRankOptions returns the default knobs: K 10, no diversity, history
// 0.3, half-life 24h.
func DefaultRankOptions() RankOptions {
	return RankOptions{K: 10, History: 0.3, HalfLife: 24 * time.Hour, Neighbours: DefaultNeighbours}
}

func (o *RankOptions) fill() error {
	if o.K == 0 {
		o.K = 10
	}
	if o.HalfLife == 0 {
		o.HalfLife = 24 * time.Hour
	}
	switch {
	case o.K < 1 || o.K > MaxK:
		return fmt.Errorf("model: k %d: want 1 to %d", o.K, MaxK)
	case !(o.Diversity >= 0 && o.Diversity <= 1):
		return fmt.Errorf("model: diversity %v: want 0 to 1", o.Diversity)
	case !(o.History >= 0 && o.History <= 1):
		return fmt.Errorf("model: history %v: want 0 to 1", o.History)
	case o.HalfLife < 0:
		return fmt.Errorf("model: half-life %v: want > 0", o.HalfLife)
	case !(o.Neighbours >= 0 && o.Neighbours <= 1):
		return fmt.Errorf("model: neighbours %v: want 0 to 1", o.Neighbours)
	case !(o.Repeat >= 0 && o.Repeat <= 1):
		return fmt.Errorf("model: repeat %v: want 0 to 1", o.Repeat)
	case !(o.Sequence >= 0 && o.Sequence <= 1):
		return fmt.Errorf("model: sequence %v: want 0 to 1", o.Sequence)
	}
	return o.Filter.validate()
}

// Recommendation is one recommended item.
type Recommendation struct {
	ItemID string
	// Score is the relevance. Without the neighbourhood term it is
	// Vector; with it, (1-w) exp((Vector-best)/0.05) + w Neighbours for w
	// RankOptions.Neighbours and best the highest Vector of the ranking;
	// plus RankOptions.Sequence times Sequence, plus Repeat.
	Score float32
	// Intent is the ID of the intent that produced the item: the one
	// its vector is closest to, weight for weight.
	Intent string
	// Vector is the evidence of the vectors: the cosine of the item to
	// Intent's centroid, times that intent's weight.
	Vector float32
	// Neighbours is the evidence of the neighbourhood term: the votes of
	// the training sessions most like this one, over the best item's
	// (1 for it, 0 for an item no neighbour holds or without the term).
	Neighbours float32
	// Sequence is the evidence of the sequential rules: how strongly the
	// training sessions went on to the item right after the session's
	// latest item, over the strongest follower's (1 for it, 0 for an item
	// that never followed it or without the term).
	Sequence float32
	// Repeat is what the item gained for being in the current session
	// (RankOptions.Repeat), 0 for any other.
	Repeat float32
}

// Ranking is the result of Rank: the items, and the intents that explain
// them with the weights they were ranked with.
type Ranking struct {
	Items   []Recommendation
	Intents []Intent
}

// Weigh returns the intents of the session followed by the past intents,
// copied, with Past set on the latter and the weights they are ranked with:
// a session intent keeps (1-History) of its weight, a past intent gets
// History times its weight times 0.5^(age/HalfLife); the weights are then
// scaled to sum to 1. Intents with a zero weight are dropped. Without a
// current session the past takes all the weight, and without a past the
// session does, whatever History says: History 1 means "all on the past
// when there is one". A past intent the session has resumed (a session
// intent carries its ID, IntentDetector.Detect) is not listed again: the
// session's carries it. o must have been validated.
func (o RankOptions) weigh(session, past []Intent) []Intent {
	now := o.Now
	if now.IsZero() {
		for _, in := range slices.Concat(session, past) {
			if in.LastSeen.After(now) {
				now = in.LastSeen
			}
		}
	}
	// A past intent the session resumed (a session intent carries its
	// ID) is the session's: it is not weighed again.
	resumed := func(p Intent) bool {
		return slices.ContainsFunc(session, func(s Intent) bool { return s.ID == p.ID })
	}
	pastLeft := 0
	for _, in := range past {
		if !resumed(in) {
			pastLeft++
		}
	}
	hist := o.History
	switch {
	case len(session) == 0:
		hist = 1
	case pastLeft == 0:
		hist = 0
	}
	out := make([]Intent, 0, len(session)+pastLeft)
	var total float32
	add := func(in Intent, w float32, isPast bool) {
		if !(w > 0) {
			return
		}
		in.Weight, in.Past = w, isPast
		in.Items = slices.Clone(in.Items)
		// Scores are weight times cosine: a centroid not of unit length
		// is made so, on a copy (Detect's are, and are left as they are).
		if n := Norm(in.Centroid); n > 0 && math.Abs(float64(n)-1) > 1e-4 {
			in.Centroid = slices.Clone(in.Centroid)
			Normalize(in.Centroid)
		}
		out = append(out, in)
		total += w
	}
	for _, in := range session {
		add(in, (1-hist)*in.Weight, false)
	}
	for _, in := range past {
		if resumed(in) {
			continue
		}
		age := max(0, now.Sub(in.LastSeen).Seconds())
		decay := float32(math.Exp2(-age / o.HalfLife.Seconds()))
		add(in, hist*in.Weight*decay, true)
	}
	for i := range out {
		out[i].Weight /= total
	}
	return out
}

// Rank recommends up to o.K catalogue items for a user whose current session
// has the given intents (from IntentDetector.Detect) and who kept past
// intents from earlier sessions. Each intent proposes the catalogue items
// closest to its centroid; an item's relevance is its best intent weight
// times cosine, and the item is credited to that intent. With Diversity > 0
// the items are then picked by maximal marginal relevance. Rank is safe for
// concurrent use and does not modify its arguments; it does not hold up Put
// and Remove while it scores. It ranks the catalogue as it was when it
// started, except that an item removed or replaced meanwhile may be left
// out.
func (c *Catalog) Rank(session, past []Intent, o RankOptions) (Ranking, error) {
	return c.RankContext(context.Background(), session, past, o)
}

// RankContext is Rank that stops when ctx ends: it looks at ctx before each
// intent's search and before each pick by diversity, and returns ctx's
// error, wrapped, when it has ended.
func (c *Catalog) RankContext(ctx context.Context, session, past []Intent, o RankOptions) (Ranking, error) {
	if err := o.fill(); err != nil {
		return Ranking{}, err
	}
	intents := o.weigh(session, past)
	c.mu.RLock()
	v := c.view()
	accept := c.accept(v, o.Filter)
	repeats := c.repeatRows(o)
	follows := c.sequenceRows(o)
	c.mu.RUnlock()
	want := o.Candidates()
	// The candidates are kept lean (no strings, so no pointers for the
	// collector) and made Recommendations only for the items returned;
	// they, and everything else a ranking works in, live in pooled
	// scratch.
	sc := c.getRankScratch()
	defer c.rankPool.Put(sc)
	sc.slot.reset(want * len(intents))
	sc.cands, sc.hits = sc.cands[:0], sc.hits[:0]
	sc.setIntents(intents, c.dim)
	// newCand makes row a candidate; false, and nothing made, when no
	// intent can be credited with it (none has the catalogue's dimension).
	newCand := func(row int32) (int, bool) {
		s, in := sc.bestIntent(v.vector(row))
		if in < 0 {
			return 0, false
		}
		sc.slot.put(row, len(sc.cands))
		sc.cands = append(sc.cands, candidate{row: row, intent: int32(in), vector: s, score: s})
		return len(sc.cands) - 1, true
	}
	// Each intent's search proposes candidates, the heaviest intent first;
	// a candidate's vectors score is its best weight times cosine over all
	// the intents (as Scores has it), whichever search found it. Without
	// diversity, the search of an intent that weighs less than the K-th
	// best score found so far is skipped, and so are those of the lighter
	// intents after it: every item of theirs scores at most its weight by
	// them, and, as every search before returned its K best, at most that
	// K-th score by the others, so none could enter the first K (up to ties
	// at that score); items the neighbourhood term, the sequential rules or
	// repeat bring are scored over all intents all the same. That holds
	// for an exact index. With IVF each search is approximate: an item the
	// heavier intent's search missed but a lighter one's would have found
	// is lost, a cost bounded by the index's recall. The weight is compared
	// with a margin for centroids weigh leaves within 1e-4 of unit length.
	prune, complete := !(o.Diversity > 0), true
	for _, in := range byWeight(intents) {
		if len(in.Centroid) != c.dim {
			continue
		}
		if prune && complete && len(sc.cands) >= o.K {
			sc.kth = sc.kth[:0]
			for _, cd := range sc.cands {
				sc.kth = append(sc.kth, cd.vector)
			}
			slices.Sort(sc.kth)
			if in.Weight*(1+2e-4) < sc.kth[len(sc.kth)-o.K] {
				break
			}
		}
		if err := ctx.Err(); err != nil {
			return Ranking{}, fmt.Errorf("model: rank: %w", err)
		}
		sc.hits = v.search(in.Centroid, want, accept, sc.hits[:0])
		complete = complete && len(sc.hits) == want
		for _, h := range sc.hits {
			if _, ok := sc.slot.get(h.Row); !ok {
				newCand(h.Row) // in, of the catalogue's dimension, can be credited
			}
		}
	}
	blended, blendTop := false, float32(0)
	if nb := c.neighbourVotes(v, o, intents); nb != nil {
		defer c.nbPool.Put(nb)
		sc.cands = slices.Grow(sc.cands, len(nb.rows)+len(follows)+len(repeats))
		for j, r := range nb.rows {
			if accept != nil && !accept(r) {
				continue
			}
			i, ok := sc.slot.get(r)
			if !ok {
				if i, ok = newCand(r); !ok {
					continue
				}
			}
			sc.cands[i].nb = nb.out[j]
		}
		top := float32(math.Inf(-1))
		for _, cd := range sc.cands {
			top = max(top, cd.vector)
		}
		for i := range sc.cands {
			sc.cands[i].score = blend(sc.cands[i].vector, top, sc.cands[i].nb, o.Neighbours)
		}
		blended, blendTop = true, top
	}
	// add makes row a candidate, with the vectors' score, blended as the
	// others are; false for a row with no intent to credit it to.
	add := func(row int32) (int, bool) {
		if i, ok := sc.slot.get(row); ok {
			return i, true
		}
		i, ok := newCand(row)
		if !ok {
			return 0, false
		}
		if blended {
			sc.cands[i].score = blend(sc.cands[i].vector, blendTop, 0, o.Neighbours)
		}
		return i, true
	}
	for _, f := range follows {
		if isDead(v.dead, f.row) || (accept != nil && !accept(f.row)) {
			continue
		}
		if i, ok := add(f.row); ok {
			sc.cands[i].score += o.Sequence * f.w
			sc.cands[i].seq = f.w
		}
	}
	for _, rp := range repeats {
		if isDead(v.dead, rp.row) || (accept != nil && !accept(rp.row)) {
			continue
		}
		i, ok := add(rp.row)
		if !ok {
			continue
		}
		sc.cands[i].score += rp.w
		sc.cands[i].rep = rp.w
	}
	// The best candidates, best first (ties to the lower row): the K
	// returned, or with diversity as many as the intents propose, from
	// which it picks K (the neighbourhood term adds candidates).
	n := o.K
	if o.Diversity > 0 {
		n = want * max(1, len(intents))
	}
	top := newTopK(sc.hits[:0], min(n, len(sc.cands)))
	for _, cd := range sc.cands {
		if h := (Hit{Row: cd.row, Score: cd.score}); top.admits(h) {
			top.push(h)
		}
	}
	sc.hits = top.appendTo(top.buf[:0])
	sc.order = sc.order[:0]
	for _, h := range sc.hits {
		i, _ := sc.slot.get(h.Row)
		sc.order = append(sc.order, i)
	}
	order := sc.order
	if o.Diversity > 0 {
		var err error
		if order, err = v.mmr(ctx, order, sc.cands, o.K, o.Diversity); err != nil {
			return Ranking{}, err
		}
	}
	r := Ranking{Intents: intents, Items: make([]Recommendation, 0, min(o.K, len(order)))}
	for _, i := range order[:min(o.K, len(order))] {
		cd := sc.cands[i]
		r.Items = append(r.Items, Recommendation{ItemID: v.items[cd.row].ID, Score: cd.score, Intent: intents[cd.intent].ID,
			Vector: cd.vector, Neighbours: cd.nb, Sequence: cd.seq, Repeat: cd.rep})
	}
	return r, nil
}

// candidate is an item a ranking considers: its row, the index of the
// intent it is credited to, and its scores (see Recommendation).
type candidate struct {
	row                         int32
	intent                      int32
	vector, score, nb, seq, rep float32
}

// mmr picks k of the candidates (given best first) by maximal marginal
// relevance: each next pick maximises (1-d)*rel - d*maxsim, where rel is the
// candidate's score over the best score and maxsim its highest cosine to
// the items already picked; ties go to the better candidate. It stops with
// ctx's error when ctx ends.
//
// The candidates left are kept with their vectors copied together, so that
// each pick scores them in one pass over contiguous memory (rows scattered
// over a large catalogue would miss the cache on every one), and a pick is
// swapped out of them.
func (v *view) mmr(ctx context.Context, order []int, cands []candidate, k int, d float32) ([]int, error) {
	if len(order) == 0 {
		return order, nil
	}
	top := cands[order[0]].score
	if top <= 0 {
		top = 1
	}
	n, dim := len(order), v.dim
	// left[j] is the position in order of the j-th candidate left, vecs
	// its vector, maxSim its highest cosine to the picks; sims and pv are
	// scratch. All of it is pooled with the searches' scratch: a ranking
	// with diversity over 8 intents at k=50 would allocate 270 KB.
	sc := v.getScratch()
	defer v.scratch.Put(sc)
	sc.left = slices.Grow(sc.left[:0], n)[:n]
	sc.mmr = slices.Grow(sc.mmr[:0], n*dim+2*n+dim)[:n*dim+2*n+dim]
	left, buf := sc.left, sc.mmr
	vecs, maxSim, sims, pv := buf[:n*dim], buf[n*dim:n*dim+n], buf[n*dim+n:n*dim+2*n], buf[n*dim+2*n:]
	for j, ci := range order {
		left[j] = j
		copy(vecs[j*dim:(j+1)*dim], v.vector(cands[ci].row))
		maxSim[j] = -1
	}
	picked := make([]int, 0, k)
	for len(picked) < k && n > 0 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("model: rank: %w", err)
		}
		bi, bv := -1, float32(math.Inf(-1))
		for j, pos := range left[:n] {
			sim := maxSim[j]
			if len(picked) == 0 {
				sim = 0
			}
			if x := (1-d)*cands[order[pos]].score/top - d*sim; x > bv || (x == bv && bi >= 0 && pos < left[bi]) {
				bi, bv = j, x
			}
		}
		picked = append(picked, order[left[bi]])
		copy(pv, vecs[bi*dim:(bi+1)*dim])
		// Swap the pick out: the last candidate left takes its place.
		n--
		left[bi], maxSim[bi] = left[n], maxSim[n]
		copy(vecs[bi*dim:(bi+1)*dim], vecs[n*dim:(n+1)*dim])
		dots(pv, vecs[:n*dim], dim, sims[:n])
		for j, s := range sims[:n] {
			maxSim[j] = max(maxSim[j], s)
		}
	}
	return picked, nil
}

// Scores writes, for every catalogue row, the relevance Rank would give it
// for the intents without diversity or filters: the best over intents of
// weight times cosine; a removed row scores -Inf. It is the dense form of
// Rank used by offline evaluation; dst and tmp (scratch) must have one
// entry per row: Len() while nothing was put or removed.
func (c *Catalog) Scores(session, past []Intent, o RankOptions, dst, tmp []float32) error {
	if err := o.fill(); err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(dst) != len(c.items) || len(tmp) != len(c.items) {
		return fmt.Errorf("model: scores of %d rows into %d and %d entries", len(c.items), len(dst), len(tmp))
	}
	for i := range dst {
		dst[i] = float32(math.Inf(-1))
	}
	repeats := c.repeatRows(o)
	follows := c.sequenceRows(o)
	defer func() {
		for _, f := range follows {
			if !math.IsInf(float64(dst[f.row]), -1) {
				dst[f.row] += o.Sequence * f.w
			}
		}
		for _, rp := range repeats {
			if !math.IsInf(float64(dst[rp.row]), -1) {
				dst[rp.row] += rp.w
			}
		}
	}()
	intents := o.weigh(session, past)
	for _, in := range intents {
		if len(in.Centroid) != c.dim {
			continue
		}
		dots(in.Centroid, c.vecs, c.dim, tmp)
		for i, s := range tmp {
			if !isDead(c.dead, int32(i)) {
				dst[i] = max(dst[i], in.Weight*s)
			}
		}
	}
	sc := c.neighbourVotes(c.view(), o, intents)
	if sc == nil {
		return nil
	}
	defer c.nbPool.Put(sc)
	clear(tmp)
	for j, r := range sc.rows {
		tmp[r] = sc.out[j]
	}
	top := float32(math.Inf(-1))
	for _, s := range dst {
		top = max(top, s)
	}
	for i, s := range dst {
		if !math.IsInf(float64(s), -1) {
			dst[i] = blend(s, top, tmp[i], o.Neighbours)
		}
	}
	return nil
}

// rowWeight is a catalogue row and a weight: a follower of the
// session's latest item and its weight (sequenceRows), or an item of the
// session and what Repeat raises it by (repeatRows).
type rowWeight struct {
	row int32
	w   float32
}

// repeatRows returns the rows of the session's items (o.Recent) that the
// catalogue holds, each once, the latest first, with what RankOptions.Repeat
// raises each by; nil when Repeat is 0. The caller holds c.mu.
func (c *Catalog) repeatRows(o RankOptions) []rowWeight {
	if !(o.Repeat > 0) || len(o.Recent) == 0 {
		return nil
	}
	out := make([]rowWeight, 0, len(o.Recent))
	for i := len(o.Recent) - 1; i >= 0; i-- {
		r, ok := c.rows[o.Recent[i]]
		if !ok || slices.ContainsFunc(out, func(x rowWeight) bool { return x.row == r }) {
			continue
		}
		bonus := o.Repeat
		if i == len(o.Recent)-1 {
			bonus = 1
		}
		out = append(out, rowWeight{row: r, w: bonus})
	}
	return out
}

// blend is the score of an item whose vectors score vec, against a best
// of top, and whose neighbourhood votes are nb (scaled to a best of 1),
// for a neighbourhood weight w (see Recommendation.Score).
func blend(vec, top, nb, w float32) float32 {
	return (1-w)*float32(math.Exp(float64((vec-top)/blendTemperature))) + w*nb
}

// nbScratch is what one ranking's neighbourhood term works in, pooled
// by the catalogue: the term's own scratch, the votes of every item of the
// session log (zero between uses), the session as log indices, and the
// rows voted for with their votes.
type nbScratch struct {
	nb    *NeighbourScratch
	votes []float32
	seq   []int32
	rows  []int32
	out   []float32
}

// neighbourVotes runs the neighbourhood term for o.Recent and returns the
// rows of v it votes for, live ones only, with their votes over the best
// vote, in sc; the caller puts sc back into c.nbPool when done with them.
// It returns a nil sc when the term is off (o.Neighbours 0 or a model
// without a SessionLog), when there is no intent to credit an item to, or
// when no training session shares an item with the session.
func (c *Catalog) neighbourVotes(v *view, o RankOptions, intents []Intent) *nbScratch {
	if c.nb == nil || !(o.Neighbours > 0) || len(o.Recent) == 0 || len(intents) == 0 {
		return nil
	}
	sc, _ := c.nbPool.Get().(*nbScratch)
	if sc == nil {
		sc = &nbScratch{nb: c.nb.NewScratch(), votes: make([]float32, c.nb.Len())}
	}
	sc.seq, sc.rows, sc.out = sc.seq[:0], sc.rows[:0], sc.out[:0]
	for _, id := range o.Recent {
		if x, ok := c.nbIndex[id]; ok {
			sc.seq = append(sc.seq, x)
		}
	}
	top := c.nb.Score(sc.seq, sc.votes, sc.nb)
	for _, y := range sc.nb.Touched {
		r := atomic.LoadInt32(&c.nbRow[y])
		if r >= 0 && int(r) < len(v.items) && !isDead(v.dead, r) && top > 0 {
			sc.rows = append(sc.rows, r)
			sc.out = append(sc.out, sc.votes[y]/top)
		}
		sc.votes[y] = 0
	}
	if len(sc.rows) == 0 {
		c.nbPool.Put(sc)
		return nil
	}
	return sc
}

// byWeight returns intents ordered by weight, heaviest first (equal
// weights in their order), as a new slice.
func byWeight(intents []Intent) []Intent {
	out := slices.Clone(intents)
	slices.SortStableFunc(out, func(a, b Intent) int { return cmp.Compare(b.Weight, a.Weight) })
	return out
}

// rankScratch is what one ranking works in, pooled by the catalogue: the
// candidates and the table of their rows, the search hits, and the intents
// that can credit an item.
type rankScratch struct {
	slot  rowSlots
	cands []candidate
	hits  []Hit
	order []int
	kth   []float32
	// The intents of the catalogue's dimension: their indexes in the
	// ranking's intents, weights and centroids (one matrix, row-major),
	// and scratch for an item's cosines to them.
	in   []int32
	w    []float32
	cent []float32
	sims []float32
}

// getRankScratch takes a rankScratch from the catalogue's pool; the caller
// puts it back.
func (c *Catalog) getRankScratch() *rankScratch {
	sc, _ := c.rankPool.Get().(*rankScratch)
	if sc == nil {
		sc = &rankScratch{}
	}
	return sc
}

// setIntents takes, of intents, those whose centroid (unit length, as
// weigh makes it) has dim elements, for bestIntent.
func (sc *rankScratch) setIntents(intents []Intent, dim int) {
	sc.in, sc.w, sc.cent = sc.in[:0], sc.w[:0], sc.cent[:0]
	for i, in := range intents {
		if len(in.Centroid) == dim {
			sc.in = append(sc.in, int32(i))
			sc.w = append(sc.w, in.Weight)
			sc.cent = append(sc.cent, in.Centroid...)
		}
	}
	sc.sims = slices.Grow(sc.sims[:0], len(sc.in))[:len(sc.in)]
}

// bestIntent returns the best weight times cosine of vec (a unit vector of
// the catalogue's dimension) over the intents of setIntents, and that
// intent's index in the ranking's intents (the first of equals), -1 when
// none has the catalogue's dimension. One call scores vec against every
// centroid.
func (sc *rankScratch) bestIntent(vec []float32) (float32, int) {
	s, best := float32(math.Inf(-1)), -1
	if len(sc.in) == 0 {
		return s, best
	}
	dots(vec, sc.cent, len(vec), sc.sims)
	for j, x := range sc.sims {
		if x *= sc.w[j]; x > s {
			s, best = x, int(sc.in[j])
		}
	}
	return s, best
}

// rowSlots maps catalogue rows to the indexes of their candidates: a hash
// table with open addressing and linear probing, kept at most half full.
// It beats a Go map by a few times on the hundreds of lookups a ranking
// makes, and is reused from ranking to ranking.
type rowSlots struct {
	keys  []int32 // row+1 of each slot, 0 for an empty one
	vals  []int32
	n     int
	shift uint32 // 32 - log2(len(keys))
}

// maxKeptSlots bounds the slots a reset table keeps beyond what it is
// asked for: a ranking with diversity at a large K grows a table that later
// small rankings would otherwise clear in full.
const maxKeptSlots = 4096

// reset empties the table and sizes it for at least want rows. It keeps
// the slots it grew to, up to maxKeptSlots, since the rankings it is
// reused for are much alike.
func (t *rowSlots) reset(want int) {
	size := 64
	for size < 2*want {
		size *= 2
	}
	if c := cap(t.keys); c >= size && c <= max(size, maxKeptSlots) {
		t.keys, t.vals = t.keys[:c], t.vals[:c]
		clear(t.keys)
	} else {
		t.keys, t.vals = make([]int32, size), make([]int32, size)
	}
	t.n, t.shift = 0, uint32(32-bits.TrailingZeros(uint(len(t.keys))))
}

// slot returns the slot of row, or the empty slot where it would go.
func (t *rowSlots) slot(row int32) int {
	mask := uint32(len(t.keys) - 1)
	// Fibonacci hashing: the top bits of the product.
	for i := (uint32(row) * 0x9e3779b1) >> t.shift; ; i = (i + 1) & mask {
		if k := t.keys[i]; k == 0 || k == row+1 {
			return int(i)
		}
	}
}

// get returns the value of row, and whether the table holds it.
func (t *rowSlots) get(row int32) (int, bool) {
	i := t.slot(row)
	if t.keys[i] == 0 {
		return 0, false
	}
	return int(t.vals[i]), true
}

// put sets the value of row, doubling the table when it would be more
// than half full.
func (t *rowSlots) put(row int32, v int) {
	if 2*(t.n+1) > len(t.keys) {
		keys, vals := t.keys, t.vals
		t.keys, t.vals = make([]int32, 2*len(keys)), make([]int32, 2*len(keys))
		t.shift--
		for i, k := range keys {
			if k != 0 {
				j := t.slot(k - 1)
				t.keys[j], t.vals[j] = k, vals[i]
			}
		}
	}
	i := t.slot(row)
	if t.keys[i] == 0 {
		t.n++
	}
	t.keys[i], t.vals[i] = row+1, int32(v)
}
