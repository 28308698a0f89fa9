package eval

import (
	"fmt"
	"math"

	"github.com/sessionrec/sessionrec/model"
)

// SKNNConfig tunes [SKNN]. Zero fields take the settings of the reference
// run in shared/BASELINES.md.
type SKNNConfig struct {
	// K is the number of neighbour sessions that vote. Zero means 100.
	K int
	// SampleSize is the number of candidate sessions considered: the most
	// recent training sessions that share an item with the prefix. Zero
	// means 500; negative means all of them.
	SampleSize int
}

// SKNN is session-based kNN, session-rec's sknn (ContextKNN) with cosine
// similarity and recent sampling.
//
// For a prefix with the item set P, the candidates are the SampleSize most
// recent training sessions (the latest in [TrainSet] order) that contain
// an item of P. Each candidate with the item set C has the similarity
// |P∩C| / sqrt(|P|*|C|); the K most similar are the neighbours (ties: the
// more recent session). An item's score is the sum of the similarities of
// the neighbours that contain it.
//
// session-rec computes the cosine as li / sqrt(la) * sqrt(lb), an
// operator-precedence slip that multiplies the true cosine by |P|; a
// factor that is the same for every candidate of a prefix changes neither
// the neighbours nor the ranking, so the true cosine is used here.
type SKNN struct {
	cfg SKNNConfig
	// Distinct items of each session (compressed rows).
	sessOff, sessItem []int32
	// Sessions containing each item, in increasing (time) order.
	itemOff, itemSess []int32
	nItems            int
}

var _ Method = (*SKNN)(nil)

// NewSKNN returns an unfitted SKNN. It fails for a negative K.
func NewSKNN(cfg SKNNConfig) (*SKNN, error) {
	if cfg.K < 0 {
		return nil, fmt.Errorf("eval: sknn config %+v: want K >= 0", cfg)
	}
	if cfg.K == 0 {
		cfg.K = 100
	}
	if cfg.SampleSize == 0 {
		cfg.SampleSize = 500
	}
	return &SKNN{cfg: cfg}, nil
}

// Name returns "SKNN".
func (*SKNN) Name() string { return "SKNN" }

// Fit indexes the training sessions by item.
func (m *SKNN) Fit(train *TrainSet) error {
	m.nItems = train.NItems
	m.sessOff = make([]int32, 1, len(train.Sessions)+1)
	m.sessItem = m.sessItem[:0]
	seen := make([]int32, train.NItems) // session index + 1 of the last sighting
	for si, s := range train.Sessions {
		for _, x := range s {
			if seen[x] == int32(si)+1 {
				continue
			}
			seen[x] = int32(si) + 1
			m.sessItem = append(m.sessItem, x)
		}
		m.sessOff = append(m.sessOff, int32(len(m.sessItem)))
	}
	m.itemOff, m.itemSess = postings(train.NItems, m.sessOff, m.sessItem)
	return nil
}

// NewScorer returns a scorer with its own scratch memory, sharing m's
// index.
func (m *SKNN) NewScorer() Scorer {
	return &sknnScorer{m: m, mark: make([]uint32, m.nItems)}
}

type sknnScorer struct {
	m *SKNN
	// mark[x] == stamp when item x is in the current prefix.
	mark   []uint32
	stamp  uint32
	items  []int32 // distinct prefix items
	cursor []int32 // RecentSessions' scratch
	cands  []int32
	top    topK
}

// Score scores the items of the prefix's neighbour sessions; all other
// items, and all items for an empty prefix, score 0.
func (s *sknnScorer) Score(prefix []int32, dst []float32) {
	clear(dst)
	m := s.m
	s.stamp++
	if s.stamp == 0 { // wrapped: forget all marks
		clear(s.mark)
		s.stamp = 1
	}
	s.items = s.items[:0]
	for _, x := range prefix {
		if s.mark[x] != s.stamp {
			s.mark[x] = s.stamp
			s.items = append(s.items, x)
		}
	}
	if len(s.items) == 0 {
		return
	}
	s.candidates()

	nP := float64(len(s.items))
	s.top.reset(m.cfg.K)
	for _, c := range s.cands {
		inter := 0
		sess := m.sessItem[m.sessOff[c]:m.sessOff[c+1]]
		for _, x := range sess {
			if s.mark[x] == s.stamp {
				inter++
			}
		}
		// inter > 0: every candidate holds a prefix item.
		s.top.push(scored{id: c, score: float64(inter) / math.Sqrt(nP*float64(len(sess)))})
	}
	for _, nb := range s.top.sorted() {
		w := float32(nb.score)
		for _, x := range m.sessItem[m.sessOff[nb.id]:m.sessOff[nb.id+1]] {
			dst[x] += w
		}
	}
}

// candidates collects into s.cands the SampleSize most recent sessions
// containing a prefix item, most recent first.
func (s *sknnScorer) candidates() {
	m := s.m
	s.cands, s.cursor = model.RecentSessions(m.itemOff, m.itemSess, s.items, m.cfg.SampleSize, s.cands[:0], s.cursor)
}
