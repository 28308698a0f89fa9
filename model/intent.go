package model

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Intent is a group of items that belong together, and what the ranker
// recommends from: the catalogue items closest to its centroid.
type Intent struct {
	// ID names the intent: the ID of its earliest member. It is stable while
	// the intent grows, and kept when an intent of a past session resumes.
	ID string
	// Items are the members' item IDs, oldest first.
	Items []string
	// Centroid is the unit-length mean direction of the members' vectors.
	Centroid []float32
	// Coherence is the mean cosine of the members to the centroid, in
	// [-1, 1]; 1 for a single item.
	Coherence float32
	// Weight is the intent's share of the session: the recency-weighted
	// share of its members. Weights of a session's intents sum to 1.
	Weight float32
	// Current marks the intent holding the session's most recent item.
	Current bool
	// Past marks an intent kept from an earlier session of the user.
	Past bool
	// LastSeen is the event time of the intent's most recent member. The
	// ranker decays past intents from it.
	LastSeen time.Time
}

// SessionItem is an item of the session being analysed.
type SessionItem struct {
	ID   string
	Vec  []float32 // need not be normalised; the detector does not modify it
	Time time.Time
}

// IntentConfig sets up an IntentDetector. The zero value of every field
// means its default.
type IntentConfig struct {
	// Window is how many of the most recent distinct items are grouped.
	// Default 10, at most 16.
	Window int
	// MaxIntents bounds the number of intents in one session. Default 3.
	MaxIntents int
	// SplitPenalty is what each intent beyond the first must earn: a
	// grouping is worth the sum over items of the cosine to their intent's
	// centroid, minus SplitPenalty per extra intent. Default 0.6.
	SplitPenalty float32
	// Recency is the per-step decay of an item's share of the session
	// weight: the most recent item weighs 1, the one before Recency, then
	// Recency^2 ... Default 0.5 (better than 0.7 and 0.9 on the validation
	// splits of both evaluation datasets).
	Recency float32
	// CentroidRecency is the per-step decay of a member's weight in its
	// intent's centroid: the intent's most recent member weighs 1, the
	// one before it CentroidRecency, and so on, so that the intent points
	// where it is going. 1 is the plain mean. Default 0.5 (chosen on the
	// validation splits; see the README).
	CentroidRecency float32
	// Resume is the cosine between a session intent's centroid and a past
	// intent's above which the session intent continues the past one (takes
	// its ID; the past intent is then not listed separately). Default 0.8.
	Resume float32
}

func (c *IntentConfig) fill() error {
	if c.Window == 0 {
		c.Window = 10
	}
	if c.MaxIntents == 0 {
		c.MaxIntents = 3
	}
	if c.SplitPenalty == 0 {
		c.SplitPenalty = 0.6
	}
	if c.Recency == 0 {
		c.Recency = 0.5
	}
	if c.Resume == 0 {
		c.Resume = 0.8
	}
	if c.CentroidRecency == 0 {
		c.CentroidRecency = 0.5
	}
	if c.Window < 1 || c.Window > maxWindow || c.MaxIntents < 1 || c.MaxIntents > c.Window ||
		!(c.SplitPenalty > 0) || !(c.Recency > 0 && c.Recency <= 1) || !(c.Resume > 0 && c.Resume <= 1) ||
		!(c.CentroidRecency > 0 && c.CentroidRecency <= 1) {
		return fmt.Errorf("model: intent config out of range: %+v", *c)
	}
	return nil
}

const maxWindow = 16

// IntentDetector groups a session's items into intents. It is safe for
// concurrent use.
type IntentDetector struct {
	cfg IntentConfig
}

// NewIntentDetector checks cfg and fills its defaults.
func NewIntentDetector(cfg IntentConfig) (*IntentDetector, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &IntentDetector{cfg: cfg}, nil
}

// Config returns the detector's configuration with defaults filled in.
func (d *IntentDetector) Config() IntentConfig { return d.cfg }

// Detect groups the last Window distinct items of a session (oldest first;
// a repeated item counts at its latest position) into at most MaxIntents
// intents, choosing the grouping with the highest score (see doc.go). The
// intent holding the last item is Current. Intents are ordered by weight,
// highest first (ties by ID). Items whose vector is zero (unknown) are
// left out. Detect is deterministic.
//
// past are the intents kept from the user's earlier sessions; a session
// intent whose centroid is within Resume of a past intent's takes that
// intent's ID. Detect does not modify past or the vectors it is given; the
// returned intents share no memory with them.
func (d *IntentDetector) Detect(items []SessionItem, past []Intent) []Intent {
	cfg := d.cfg
	// Distinct items, latest occurrence wins, oldest first.
	var win [maxWindow]int
	n := 0
	for i := len(items) - 1; i >= 0 && n < cfg.Window; i-- {
		if Norm(items[i].Vec) == 0 {
			continue
		}
		dup := false
		for _, j := range win[:n] {
			if items[j].ID == items[i].ID {
				dup = true
				break
			}
		}
		if !dup {
			win[n] = i
			n++
		}
	}
	if n == 0 {
		return nil
	}
	slices.Reverse(win[:n])
	idx := win[:n]

	// Gram matrix of the unit vectors.
	var inv [maxWindow]float32
	for a, i := range idx {
		inv[a] = 1 / Norm(items[i].Vec)
	}
	var s search
	s.n = n
	s.maxGroups = cfg.MaxIntents
	s.penalty = cfg.SplitPenalty
	for a := range n {
		s.gram[a][a] = 1
		for b := range a {
			g := Dot(items[idx[a]].Vec, items[idx[b]].Vec) * inv[a] * inv[b]
			s.gram[a][b], s.gram[b][a] = g, g
		}
	}
	s.run()

	// Build the intents of the best grouping.
	groups := s.bestGroups
	intents := make([]Intent, groups)
	dim := len(items[idx[0]].Vec)
	var total float32
	w := float32(1)
	// Per intent, its members' weight in the centroid, newest first, and
	// the plain sum of their unit vectors, for the coherence.
	var cw [maxWindow]float32
	sums := make([]float32, groups*dim)
	for a := n - 1; a >= 0; a-- {
		g := s.best[a]
		it := &intents[g]
		item := items[idx[a]]
		if it.Centroid == nil {
			it.Centroid = make([]float32, dim)
			it.LastSeen = item.Time
			cw[g] = 1
		}
		Axpy(inv[a]*cw[g], item.Vec, it.Centroid)
		Axpy(inv[a], item.Vec, sums[g*dim:(g+1)*dim])
		cw[g] *= cfg.CentroidRecency
		it.Weight += w
		total += w
		w *= cfg.Recency
	}
	for a := range n {
		it := &intents[s.best[a]]
		if it.ID == "" {
			it.ID = items[idx[a]].ID
		}
		it.Items = append(it.Items, items[idx[a]].ID)
	}
	intents[s.best[n-1]].Current = true
	for g := range intents {
		it := &intents[g]
		Normalize(it.Centroid)
		it.Coherence = min(1, Norm(sums[g*dim:(g+1)*dim])/float32(len(it.Items)))
		it.Weight /= total
		for _, p := range past {
			if len(p.Centroid) == dim && Dot(p.Centroid, it.Centroid) >= cfg.Resume {
				it.ID = p.ID
				break
			}
		}
	}
	slices.SortStableFunc(intents, func(a, b Intent) int {
		if a.Weight != b.Weight {
			if a.Weight > b.Weight {
				return -1
			}
			return 1
		}
		return compareStrings(a.ID, b.ID)
	})
	return intents
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// search finds the grouping of n unit vectors with Gram matrix gram into at
// most maxGroups groups that maximises sum_g ||S_g|| - penalty*(groups-1),
// where S_g is the sum of group g's vectors: ||S_g|| is n_g times the mean
// cosine of g's members to its centroid. It enumerates groupings as
// restricted growth strings (item a joins one of the groups opened by items
// before it, or opens the next), depth first, keeping for each group the
// squared norm q_g = ||S_g||^2 up to date: adding item a to g adds
// 1 + 2*sum_{b in g} gram[a][b]. A branch is cut when even every remaining
// item adding a full 1 (the triangle inequality's most) cannot beat the best
// grouping found.
type search struct {
	n, maxGroups int
	penalty      float32
	gram         [maxWindow][maxWindow]float32

	assign     [maxWindow]int
	q          [maxWindow]float32
	best       [maxWindow]int
	bestGroups int
	bestScore  float32
}

func (s *search) run() {
	s.bestScore = float32(math.Inf(-1))
	s.assign[0] = 0
	s.q[0] = 1
	s.dfs(1, 1)
}

func (s *search) dfs(a, groups int) {
	var cur float32
	for g := range groups {
		cur += sqrt32(s.q[g])
	}
	cur -= s.penalty * float32(groups-1)
	if a == s.n {
		if cur > s.bestScore+1e-6 {
			s.bestScore = cur
			s.best = s.assign
			s.bestGroups = groups
		}
		return
	}
	if cur+float32(s.n-a) <= s.bestScore+1e-6 {
		return
	}
	for g := range min(groups+1, s.maxGroups) {
		var dot float32
		for b := range a {
			if s.assign[b] == g {
				dot += s.gram[a][b]
			}
		}
		old := s.q[g]
		if g == groups {
			old = 0
		}
		s.q[g] = old + 1 + 2*dot
		s.assign[a] = g
		s.dfs(a+1, max(groups, g+1))
		s.q[g] = old
	}
}

func sqrt32(x float32) float32 {
	if x <= 0 {
		return 0
	}
	return float32(math.Sqrt(float64(x)))
}

// MeanIntent returns the whole session as one intent: the mean direction of
// all its items with a known vector, as the single-vector baseline of
// averaging a session. It reports false when no item has a vector.
func MeanIntent(items []SessionItem) (Intent, bool) {
	var in Intent
	for _, it := range items {
		n := Norm(it.Vec)
		if n == 0 {
			continue
		}
		if in.Centroid == nil {
			in.Centroid = make([]float32, len(it.Vec))
			in.ID = it.ID
		}
		Axpy(1/n, it.Vec, in.Centroid)
		in.Items = append(in.Items, it.ID)
		in.LastSeen = it.Time
	}
	if in.Centroid == nil {
		return Intent{}, false
	}
	in.Coherence = min(1, Normalize(in.Centroid)/float32(len(in.Items)))
	in.Weight, in.Current = 1, true
	return in, true
}
