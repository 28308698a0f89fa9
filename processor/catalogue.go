package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// catalogue is the instance's copy of the items topic: every item, kept
// in memory and in the store, applied to the serving engine (each arm's
// with an A/B split) as it changes.
// It is the one place engines are built from, so that a model swap and an
// item change never miss each other: both hold mu.
type catalogue struct {
	mu    sync.Mutex
	items map[string]model.Item
	// models are the models the engines are built with, by slot: one
	// without an A/B split, one per arm with one (Config.Split, in its
	// order); nil until set. engines are the engines built of them.
	models  []*model.Model
	engines []*Engine
	// fellBack says, by arm, whether the arm's users were last reported
	// served by the other arm's version (reportArmsLocked); armsReported
	// whether reports have begun (views.armsCaughtUp).
	fellBack     [2]bool
	armsReported bool
	// loaded is closed once the store's copy and the topic up to its end
	// offsets at start are read.
	loaded     chan struct{}
	loadedOnce sync.Once
}

// newCatalogue returns a catalogue of the seed items, with slots engine
// slots (one, or one per arm of an A/B split).
func newCatalogue(seed []model.Item, slots int) *catalogue {
	c := &catalogue{items: make(map[string]model.Item, len(seed)), loaded: make(chan struct{}),
		models: make([]*model.Model, slots), engines: make([]*Engine, slots)}
	for _, it := range seed {
		c.items[it.ID] = it
	}
	return c
}

func (c *catalogue) markLoaded() { c.loadedOnce.Do(func() { close(c.loaded) }) }

func (c *catalogue) isLoaded() bool {
	select {
	case <-c.loaded:
		return true
	default:
		return false
	}
}

// ModelItem converts an items-topic record for the model.
func ModelItem(it topics.Item) model.Item {
	return model.Item{ID: it.ItemID, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price}
}

// setModel is Processor.SetModel.
func (v *views) setModel(m *model.Model) error {
	i, err := v.slot(m.Info.Version)
	if err != nil {
		return err
	}
	c := v.cat
	c.mu.Lock()
	defer c.mu.Unlock()
	c.models[i] = m
	if !c.isLoaded() {
		return nil
	}
	return v.buildSlotLocked(i)
}

// buildEngineLocked builds the engine of every slot's model over the
// catalogue's items and serves them. The caller holds v.cat.mu.
func (v *views) buildEngineLocked() error {
	var errs []error
	for i := range v.cat.models {
		errs = append(errs, v.buildSlotLocked(i))
	}
	return errors.Join(errs...)
}

// buildSlotLocked builds the engine of slot i's model over the
// catalogue's items and serves it: as the engine without an A/B split,
// as its arm's with one (publishArmsLocked). The caller holds v.cat.mu.
func (v *views) buildSlotLocked(i int) error {
	c := v.cat
	m := c.models[i]
	if m == nil {
		return nil
	}
	items := slices.SortedFunc(maps.Values(c.items), func(a, b model.Item) int { return strings.Compare(a.ID, b.ID) })
	if len(items) == 0 {
		items = m.IDItems()
	}
	start := v.cfg.Now()
	e, err := NewEngine(m, items, v.cfg.Engine.Index, v.cfg.Engine.Intents, v.cfg.Engine.Knobs)
	if err != nil {
		return fmt.Errorf("processor: build the engine of model %s: %w", m.Info.Version, err)
	}
	c.engines[i] = e
	if len(v.cfg.Split) == 0 {
		v.setEngine(e)
		v.cfg.Logger.Info("model serving", "version", e.Version(), "items", len(items), "took", v.cfg.Now().Sub(start))
		return nil
	}
	v.publishArmsLocked()
	v.cfg.Logger.Info("model serving", "arm", armNames[i], "version", e.Version(), "items", len(items), "took", v.cfg.Now().Sub(start))
	return nil
}

// followItems loads the store's copy of the catalogue, reads the items
// topic from where the copy ends, builds the engine when caught up, and
// then applies every change as it comes until ctx ends.
func (v *views) followItems(ctx context.Context) error {
	c := v.cat
	c.mu.Lock()
	err := v.db.Items(func(id string, value []byte) bool {
		it, derr := topics.DecodeItem([]byte(id), value, v.cfg.Limits)
		if derr != nil {
			err := fmt.Errorf("processor: the store's copy of item %q: %w", id, derr)
			v.cfg.Logger.Warn("skipping a stored item", "err", err)
			return true
		}
		c.items[id] = ModelItem(it)
		return true
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	from := func(part int32) (int64, bool, error) {
		o, err := v.db.ItemsOffset(part)
		if errors.Is(err, store.ErrNotFound) {
			return 0, false, nil
		}
		return o, err == nil, err
	}
	caughtUp := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.isLoaded() {
			return
		}
		v.cfg.Metrics.catalog(len(c.items))
		if err := v.buildEngineLocked(); err != nil {
			v.cfg.Logger.Error("catalogue loaded, but no engine", "err", err)
		}
		// Loaded only now: Run joins the group once this is closed, and
		// the engine must serve by then.
		c.markLoaded()
	}
	return v.follow(ctx, v.cfg.Names.Items, from, func(m kafka.Message) error { return v.applyItem(ctx, m) }, caughtUp)
}

// applyItem applies one record of the items topic: a tombstone withdraws
// the item, an item is added or replaced (its vector encoded at once), and
// a record that is not an item goes to the dead-letter topic. The store's
// copy and offset move in one batch.
func (v *views) applyItem(ctx context.Context, m kafka.Message) error {
	c := v.cat
	b := v.db.NewCatalogBatch()
	id := string(m.Key)
	var dead *topics.DeadLetter
	c.mu.Lock()
	eng := v.engine()
	if !c.isLoaded() {
		eng = nil // the engine is built from the whole catalogue once loaded
	}
	var keyErr error
	if m.Value == nil {
		keyErr = topics.CheckItemKey(m.Key, v.cfg.Limits)
	}
	if keyErr != nil {
		// No item has such an id: a dead letter, not a delete of it.
		dl := topics.NewDeadLetter(v.cfg.Names.Items, int32(m.Partition), m.Offset, m.Key, m.Value, m.Time, keyErr)
		dead = &dl
	} else if m.Value == nil {
		delete(c.items, id)
		if err := b.DeleteItem(id); err != nil {
			c.mu.Unlock()
			return errors.Join(err, b.Abort())
		}
		if eng != nil {
			removed := false
			for _, e := range eng.engines() {
				removed = e.catalog.Remove(id) || removed
			}
			if removed {
				v.cfg.Logger.Debug("item withdrawn", "item", clip(id))
			}
		}
	} else if it, err := topics.DecodeItem(m.Key, m.Value, v.cfg.Limits); err != nil {
		dl := topics.NewDeadLetter(v.cfg.Names.Items, int32(m.Partition), m.Offset, m.Key, m.Value, m.Time, err)
		dead = &dl
	} else {
		mi := ModelItem(it)
		c.items[id] = mi
		if err := b.PutItem(id, m.Value); err != nil {
			c.mu.Unlock()
			return errors.Join(err, b.Abort())
		}
		if eng != nil {
			for _, e := range eng.engines() {
				if err := e.catalog.Put(mi); err != nil {
					c.mu.Unlock()
					return errors.Join(err, b.Abort())
				}
			}
			v.cfg.Metrics.coldItem()
		}
	}
	n := len(c.items)
	c.mu.Unlock()
	// New items are scanned exactly until the index is rebuilt over them;
	// this goroutine (the follower's, not the events') does it, for each
	// engine (each arm's with an A/B split).
	if eng != nil {
		for _, e := range eng.engines() {
			if !e.catalog.NeedsRebuild() {
				continue
			}
			start := v.cfg.Now()
			if err := e.catalog.Rebuild(); err != nil {
				v.cfg.Logger.Error("catalogue index not rebuilt; new items are still scanned exactly", "version", e.Version(), "err", err)
			} else {
				v.cfg.Logger.Info("catalogue index rebuilt", "version", e.Version(), "items", e.catalog.Len(), "took", v.cfg.Now().Sub(start))
			}
		}
	}
	if dead != nil {
		v.cfg.Metrics.deadLetter(dead.Reason)
		if err := v.out.publish(ctx, &pending{dead: []topics.DeadLetter{*dead}}); err != nil {
			return errors.Join(err, b.Abort())
		}
	}
	if err := b.SetOffset(int32(m.Partition), m.Offset+1); err != nil {
		return errors.Join(err, b.Abort())
	}
	if c.isLoaded() {
		v.cfg.Metrics.catalog(n)
	}
	return b.Commit()
}
