package eval

// Pop is the popularity baseline: every item scores its number of
// occurrences (events) in training, whatever the session. It matches
// session-rec's Pop with default settings.
type Pop struct {
	counts []float32
}

var _ Method = (*Pop)(nil)

// NewPop returns an unfitted Pop.
func NewPop() *Pop { return &Pop{} }

// Name returns "POP".
func (*Pop) Name() string { return "POP" }

// Fit counts the occurrences of each item.
func (p *Pop) Fit(train *TrainSet) error {
	p.counts = make([]float32, train.NItems)
	for _, s := range train.Sessions {
		for _, x := range s {
			p.counts[x]++
		}
	}
	return nil
}

// NewScorer returns a scorer that shares p's counts.
func (p *Pop) NewScorer() Scorer { return popScorer{p.counts} }

type popScorer struct{ counts []float32 }

// Score copies the counts, ignoring the prefix.
func (s popScorer) Score(_ []int32, dst []float32) { copy(dst, s.counts) }
