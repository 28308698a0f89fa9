package processor

import (
	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// views are the instance's read-only followers of the compacted topics
// every instance reads whole, outside the consumer group (follow.go): the
// items topic, into the catalogue and its copy in the store
// (catalogue.go), and the models topic, whose newest verified model it
// serves (models.go), or the two versions of an A/B split (ab.go). They
// build the engines the partition workers and the query API rank with,
// and swap them in through setEngine.
type views struct {
	cfg     *Config
	db      *store.DB
	admin   *topics.Admin // set by Run before the followers start
	brokers *outage
	out     *publisher // an item that is not one is a dead letter
	cat     *catalogue

	engine    func() *Engine
	setEngine func(*Engine)
}

// SetModel makes m the model of every event handled once it returns: it
// builds an engine over the catalogue (the items topic's items, or the
// model's own item IDs while the topic holds none) and swaps it in. Events
// in flight finish with the engine they started with. Before Run has read
// the catalogue, the model is kept and the engine is built once it has.
// With an A/B split (Config.Split), m serves the users of the arm whose
// version is m.Info.Version, and a model of another version is refused
// with ErrNotInSplit.
func (p *Processor) SetModel(m *model.Model) error { return p.views.setModel(m) }
