package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

// modelFlags are the training and intent flags shared by train and eval.
type modelFlags struct {
	dims                          string
	epochs, negatives, part       int
	maxEvents, workers, window    int
	maxIntents                    int
	lr, purchaseWeight, subsample float64
	negPower                      float64
	keepAll                       bool
	seed                          uint64
	// The next-item objective.
	nextItem, nextItemDecay   float64
	nextItemTemp              float64
	nextItemWindow, nextItemK int
	nextItemOnly              bool
}

// The training defaults of eval and train alike, chosen on the validation
// splits (yoochoose-valid, diginetica-seq-valid): see the README.
const (
	// defaultEpochs: 50 scores as 100 with the neighbourhood term on both
	// validation splits, and keeps diginetica-seq's training under 5
	// minutes on 2 cores.
	defaultEpochs = 50
	// defaultLR: the pair loss bounds its updates (model's maxStep), so
	// catalogues with shared feature rows bear the rate id-only data
	// wants.
	defaultLR = 0.2
	// defaultKeepAll: purchase sessions are weighted up (--purchase-weight)
	// rather than the only ones kept; keeping all lifts the vectors alone
	// from .28 to .53 HR@20 on diginetica and from .43 to .47 on
	// rees46-cosmetics.
	defaultKeepAll = true
)

// register adds the flags to fs, with the defaults eval and train share.
func (f *modelFlags) register(fs *flag.FlagSet) {
	const keepAll, epochs, lr = defaultKeepAll, defaultEpochs, defaultLR
	fs.StringVar(&f.dims, "dims", "auto", `sizes of the name,category,brand,price parts, e.g. "32,32,32,4"; "auto" gives a part the dataset (or the items topic) has no data for 0 and its size to the name part`)
	fs.IntVar(&f.epochs, "epochs", epochs, "training epochs (0: the trainer's default)")
	fs.IntVar(&f.negatives, "negatives", 0, "negative samples per pair (0: default)")
	fs.IntVar(&f.part, "part", 10, "mean length of the random parts sessions are split into (0: default)")
	fs.IntVar(&f.maxEvents, "max-events", 0, "drop training sessions with more events (0: default)")
	fs.IntVar(&f.workers, "workers", 2, "training goroutines; 1 is deterministic")
	fs.IntVar(&f.window, "window", 0, "intent detection window in items (0: default)")
	fs.IntVar(&f.maxIntents, "max-intents", 0, "most intents per session (0: default)")
	fs.Float64Var(&f.lr, "lr", lr, "initial learning rate (0: default)")
	fs.Float64Var(&f.purchaseWeight, "purchase-weight", 0, "gradient weight of pairs holding a purchase (0: default)")
	fs.Float64Var(&f.subsample, "subsample", 0, "frequent-item down-sampling threshold (0: off)")
	fs.Float64Var(&f.negPower, "neg-power", 0, "negatives are drawn from unigram^this (0: default 0.75)")
	fs.Float64Var(&f.nextItem, "next-item", 0, "weight of the next-item objective relative to the pair loss (0: off)")
	fs.Float64Var(&f.nextItemDecay, "next-item-decay", 0, "recency decay, in items, of the next-item objective's prefix mean (0: default)")
	fs.IntVar(&f.nextItemWindow, "next-item-window", 0, "latest items in the next-item objective's prefix mean (0: default)")
	fs.IntVar(&f.nextItemK, "next-item-negatives", 0, "negatives per session for the next-item objective, shared by its positions (0: default)")
	fs.Float64Var(&f.nextItemTemp, "next-item-temperature", 0, "next-item logits are cosines over this temperature, e.g. 0.07 (0: dot products)")
	fs.BoolVar(&f.nextItemOnly, "next-item-only", false, "train the next-item objective alone, without the pair loss")
	fs.BoolVar(&f.keepAll, "keep-all", keepAll, "train on all sessions, not only those with a purchase")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed")
}

// trainConfig builds the trainer's config for a catalogue (by item id).
func (f *modelFlags) trainConfig(items map[string]model.Item) (model.TrainConfig, error) {
	dims, err := parseDims(f.dims, items)
	if err != nil {
		return model.TrainConfig{}, err
	}
	return model.TrainConfig{
		Dims: dims, Epochs: f.epochs, Negatives: f.negatives, PartSize: f.part,
		MaxEvents: f.maxEvents, Workers: f.workers, LearningRate: float32(f.lr),
		PurchaseWeight: float32(f.purchaseWeight), Subsample: f.subsample,
		KeepAll: f.keepAll, Seed: f.seed, NegativePower: f.negPower,
		NextItem: float32(f.nextItem), NextItemDecay: f.nextItemDecay, NextItemWindow: f.nextItemWindow,
		NextItemNegatives: f.nextItemK, NextItemOnly: f.nextItemOnly,
		NextItemTemperature: float32(f.nextItemTemp),
	}, nil
}

func (f *modelFlags) intentConfig() model.IntentConfig {
	return model.IntentConfig{Window: f.window, MaxIntents: f.maxIntents}
}

// parseDims parses -dims; "auto" looks at the catalogue items for the
// parts it has data for.
func parseDims(s string, items map[string]model.Item) (model.Dims, error) {
	if s == "auto" {
		def := model.DefaultDims()
		var cat, brand, price bool
		for _, it := range items {
			cat = cat || it.Category != ""
			brand = brand || it.Brand != ""
			price = price || it.Price > 0
		}
		dims := def
		for _, p := range []struct {
			has bool
			n   *int
		}{{cat, &dims.Category}, {brand, &dims.Brand}, {price, &dims.Price}} {
			if !p.has {
				dims.Name += *p.n
				*p.n = 0
			}
		}
		return dims, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return model.Dims{}, fmt.Errorf("-dims %q: want four sizes name,category,brand,price", s)
	}
	var v [4]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			return model.Dims{}, fmt.Errorf("-dims %q: part %d is not a size", s, i+1)
		}
		v[i] = n
	}
	return model.Dims{Name: v[0], Category: v[1], Brand: v[2], Price: v[3]}, nil
}

// modelItems converts the dataset's catalogue to the model's items.
func modelItems(d *dataset.Dataset) map[string]model.Item {
	out := make(map[string]model.Item, len(d.Items))
	for id, it := range d.Items {
		out[id] = model.Item{ID: id, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price}
	}
	return out
}

// dataFlags choose a dataset: the flags every dataset command shares.
type dataFlags struct {
	dir, name string
}

func (f *dataFlags) register(fs *flag.FlagSet, name string) {
	fs.StringVar(&f.dir, "data", "", "data directory (default: $"+dataset.DataDirEnv+", or the shared/data found above the working directory)")
	fs.StringVar(&f.name, "dataset", name, "dataset: "+strings.Join(dataset.Names(), ", "))
}

// load reads the chosen dataset.
func (f *dataFlags) load() (*dataset.Dataset, error) {
	dir := f.dir
	if dir == "" {
		var err error
		if dir, err = dataset.DataDir(); err != nil {
			return nil, err
		}
	}
	return dataset.Load(dir, f.name)
}

// topicFlags name the topics; every name is configurable. A command
// registers the flags of the topics it uses; the others keep their
// default names.
type topicFlags struct {
	clicks, purchases, recommendations, deadLetters, items, models, erasures string
}

// register adds the flags of every topic: clicks, purchases, items,
// models, recommendations, the dead-letter topic and erasures.
func (f *topicFlags) register(fs *flag.FlagSet) {
	d := topics.DefaultNames()
	f.registerReplay(fs)
	fs.StringVar(&f.recommendations, "recommendations-topic", string(d.Recommendations), "recommendations topic")
	fs.StringVar(&f.deadLetters, "dlq-topic", string(d.DeadLetters), "dead-letter topic")
	f.registerErasures(fs)
}

// registerErasures adds the flag of the erasures topic.
func (f *topicFlags) registerErasures(fs *flag.FlagSet) {
	fs.StringVar(&f.erasures, "erasures-topic", string(topics.Erasures), "erasures topic (requests to forget a user)")
}

// registerReplay adds the flags of the topics train reads and writes:
// clicks, purchases, items and models.
func (f *topicFlags) registerReplay(fs *flag.FlagSet) {
	d := topics.DefaultNames()
	f.registerInputs(fs)
	fs.StringVar(&f.items, "items-topic", string(d.Items), "items (catalogue) topic")
	fs.StringVar(&f.models, "models-topic", string(d.Models), "models topic")
}

func (f *topicFlags) registerInputs(fs *flag.FlagSet) {
	d := topics.DefaultNames()
	fs.StringVar(&f.clicks, "clicks-topic", string(d.Clicks), "clicks topic")
	fs.StringVar(&f.purchases, "purchases-topic", string(d.Purchases), "purchases topic")
}

// names returns the topic names: the flags', defaults for the others.
func (f *topicFlags) names() topics.Names {
	return topics.Names{
		Clicks: topics.Topic(f.clicks), Purchases: topics.Topic(f.purchases),
		Recommendations: topics.Topic(f.recommendations), DeadLetters: topics.Topic(f.deadLetters),
		Items: topics.Topic(f.items), Models: topics.Topic(f.models), Erasures: topics.Topic(f.erasures),
	}.WithDefaults()
}

// loadTraining reads the chosen dataset and builds the trainer's config
// for it.
func loadTraining(df *dataFlags, mf *modelFlags) (*dataset.Dataset, model.TrainConfig, error) {
	d, err := df.load()
	if err != nil {
		return nil, model.TrainConfig{}, err
	}
	tc, err := mf.trainConfig(modelItems(d))
	return d, tc, err
}

// openTempStore opens a store in a new temporary directory; done closes it
// and removes the directory.
func openTempStore(prefix string) (db *store.DB, done func() error, err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, nil, err
	}
	db, err = store.Open(dir, store.Options{})
	if err != nil {
		return nil, nil, errors.Join(err, os.RemoveAll(dir))
	}
	return db, func() error { return errors.Join(db.Close(), os.RemoveAll(dir)) }, nil
}
