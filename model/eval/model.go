package eval

import (
	"fmt"

	"github.com/sessionrec/sessionrec/model"
)

// ModelConfig sets up the evaluation of the sessionrec model.
type ModelConfig struct {
	// Name is the method's name. Default "model-intents", or "model-mean"
	// without Intents.
	Name string
	// Train configures the embedding training.
	Train model.TrainConfig
	// Intents ranks from the intents the detector finds in the prefix.
	// Without it the prefix is one intent: the mean of its items' vectors.
	Intents bool
	// Intent configures the detector.
	Intent model.IntentConfig
	// Items holds the catalogue features by item id; an item missing from
	// it has its id as its only feature.
	Items map[string]model.Item
	// Trained, when set, is used instead of training in Fit: it lets two
	// variants share one trained model. It must have been trained on the
	// same split.
	Trained *model.Model
	// Neighbours is the weight of the model's neighbourhood term
	// (model.RankOptions.Neighbours): 0 ranks by the vectors alone.
	Neighbours float32
	// Repeat raises the items of the prefix (model.RankOptions.Repeat).
	Repeat float32
	// Sequence raises the followers of the prefix's latest item
	// (model.RankOptions.Sequence).
	Sequence float32
}

// Model is the sessionrec model as a [Method]: it trains item embeddings on
// the training sessions and ranks with model.Catalog.Scores, the dense form
// of the ranker, from the prefix's intents.
type Model struct {
	cfg     ModelConfig
	model   *model.Model
	catalog *model.Catalog
	det     *model.IntentDetector
	ids     []string
}

var _ Method = (*Model)(nil)

// NewModel checks cfg and returns the method, not yet fitted.
func NewModel(cfg ModelConfig) (*Model, error) {
	if cfg.Name == "" {
		cfg.Name = "model-mean"
		if cfg.Intents {
			cfg.Name = "model-intents"
		}
	}
	det, err := model.NewIntentDetector(cfg.Intent)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return &Model{cfg: cfg, det: det}, nil
}

// Name implements [Method].
func (m *Model) Name() string { return m.cfg.Name }

// Trained returns the model trained by Fit, or nil before it.
func (m *Model) Trained() *model.Model { return m.model }

// Fit implements [Method]: it trains the embeddings and builds the
// catalogue of the training items.
func (m *Model) Fit(train *TrainSet) error {
	items := make([]model.Item, train.NItems)
	for i, id := range train.IDs {
		it, ok := m.cfg.Items[id]
		if !ok {
			it = model.Item{ID: id}
		}
		it.ID = id
		items[i] = it
	}
	c := model.Corpus{Items: items, Sessions: make([][]model.Event, len(train.Sessions))}
	for s, sess := range train.Sessions {
		evs := make([]model.Event, len(sess))
		for i, x := range sess {
			evs[i] = model.Event{Item: x, Purchase: train.Purchase != nil && train.Purchase[s][i]}
		}
		c.Sessions[s] = evs
	}
	mod := m.cfg.Trained
	if mod == nil {
		var err error
		if mod, err = model.Train(c, m.cfg.Train); err != nil {
			return err
		}
		// The neighbourhood term votes from every training session, as
		// the train command's model does from its most recent ones.
		mod.Sessions = model.NewSessionLog(c, 0)
	}
	cat, err := model.NewCatalog(mod, items, nil)
	if err != nil {
		return err
	}
	m.model, m.catalog, m.ids = mod, cat, train.IDs
	return nil
}

// NewScorer implements [Method].
func (m *Model) NewScorer() Scorer {
	return &modelScorer{m: m, tmp: make([]float32, m.catalog.Len())}
}

type modelScorer struct {
	m     *Model
	items []model.SessionItem
	ids   []string
	tmp   []float32
}

func (s *modelScorer) Score(prefix []int32, dst []float32) {
	m := s.m
	s.ids = s.ids[:0]
	for _, x := range prefix {
		s.ids = append(s.ids, m.ids[x])
	}
	s.items = m.catalog.SessionItems(s.ids, s.items[:0])
	var intents []model.Intent
	if m.cfg.Intents {
		intents = m.det.Detect(s.items, nil)
	} else if in, ok := model.MeanIntent(s.items); ok {
		intents = []model.Intent{in}
	}
	opt := model.RankOptions{K: DefaultK, Neighbours: m.cfg.Neighbours, Repeat: m.cfg.Repeat, Sequence: m.cfg.Sequence, Recent: s.ids}
	if err := m.catalog.Scores(intents, nil, opt, dst, s.tmp); err != nil {
		panic(err) // fixed, valid options: an error is a broken invariant
	}
}
