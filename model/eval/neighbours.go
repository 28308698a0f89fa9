package eval

import "github.com/sessionrec/sessionrec/model"

// Neighbours is the model's neighbourhood term alone (model.Neighbours) as
// a [Method]: what the blend in [Model] adds to the vectors.
type Neighbours struct {
	cfg model.NeighbourConfig
	nb  *model.Neighbours
}

var _ Method = (*Neighbours)(nil)

// NewNeighbours returns the unfitted method, with the neighbourhood term's
// defaults.
func NewNeighbours() *Neighbours { return &Neighbours{} }

// Name returns "neighbours".
func (*Neighbours) Name() string { return "neighbours" }

// Fit indexes the training sessions.
func (m *Neighbours) Fit(train *TrainSet) error {
	nb, err := model.NewNeighbours(train.Sessions, train.NItems, m.cfg)
	m.nb = nb
	return err
}

// NewScorer returns a scorer with its own scratch memory.
func (m *Neighbours) NewScorer() Scorer { return &nbScorer{nb: m.nb, sc: m.nb.NewScratch()} }

type nbScorer struct {
	nb *model.Neighbours
	sc *model.NeighbourScratch
}

func (s *nbScorer) Score(prefix []int32, dst []float32) {
	clear(dst)
	s.nb.Score(prefix, dst, s.sc)
}
