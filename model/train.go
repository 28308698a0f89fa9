package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one event of a training session.
type Event struct {
	Item     int32 // index into Corpus.Items
	Purchase bool
}

// Corpus is what Train learns from: a catalogue and sessions over it.
type Corpus struct {
	// Items is the catalogue; Event.Item indexes it. Items that occur in no
	// kept session contribute their tokens, categories and brands only if
	// those occur in kept sessions through other items.
	Items []Item
	// Sessions are the events of each session in time order.
	Sessions [][]Event
	// From and To bound the event times of the sessions; they are recorded in
	// the model's Info and not otherwise used.
	From, To time.Time
}

// TrainConfig sets up Train. The zero value of every field means its default.
type TrainConfig struct {
	// Dims are the sizes of the parts of an item vector. Default
	// DefaultDims().
	Dims Dims
	// Epochs is the number of passes over the kept sessions. Default 20.
	// Small id-only datasets gain from many more (the eval command uses
	// 100; see the README).
	Epochs int
	// Negatives is the number of negative samples per positive pair.
	// Default 5.
	Negatives int
	// NegativePower shapes the distribution negatives are drawn from:
	// unigram^NegativePower. Default 0.75; 1 is the unigram, a negative
	// power favours rare items (every trained item has a count of at
	// least 1), and 0 means the default, not uniform.
	NegativePower float64
	// LearningRate is the initial SGD step; it decays linearly to
	// LearningRate*1e-4 over training. Default 0.025. The pair loss bounds
	// its updates and bears any rate; should the next-item objective
	// diverge, Train starts again at half the rate, up to MaxRetries times
	// (see Retried and ErrDiverged).
	LearningRate float32
	// PartSize is the mean length of the random contiguous parts a session
	// is split into; items pair with the items of their part. Default 10.
	PartSize int
	// MaxPart caps the length of a part. Default 4*PartSize.
	MaxPart int
	// MaxEvents drops sessions with more events. Default 50.
	MaxEvents int
	// KeepAll keeps sessions without a purchase (for click-only data).
	// Default false: only sessions with at least one purchase are kept.
	KeepAll bool
	// PurchaseWeight scales the gradient of pairs that hold a purchased
	// item. Default 3.
	PurchaseWeight float32
	// Subsample is word2vec's frequent-item down-sampling threshold t: an
	// occurrence of an item with frequency f is dropped with probability
	// 1-(sqrt(f/t)+1)*t/f. Default 0: off.
	Subsample float64
	// NextItem is the weight of the next-item objective relative to the
	// pair loss: 0 (the default) leaves it out. For each position t >= 1
	// of a session (after Subsample), the recency-weighted mean of the In
	// encodings of the NextItemWindow items before it is trained, by
	// softmax cross-entropy, to score the Ctx encoding of item t above
	// those of NextItemNegatives items drawn once per session from
	// unigram^NegativePower and shared by all its positions. Info does
	// not record the next-item settings.
	NextItem float32
	// NextItemTemperature, when > 0, makes the next-item logits the
	// cosines of the prefix mean to the targets divided by it (as CORE
	// does, e.g. 0.07), and starts the Ctx tables small and random rather
	// than zero (a cosine has no gradient at zero). Default 0: dot
	// products.
	NextItemTemperature float32
	// NextItemOnly trains the next-item objective alone, without the
	// pairs; it needs NextItem > 0.
	NextItemOnly bool
	// NextItemDecay is the recency decay of the prefix mean, in items:
	// the item k steps before the latest weighs exp(-k/NextItemDecay).
	// Default 5; +Inf gives a plain mean.
	NextItemDecay float64
	// NextItemWindow is how many of the latest items the prefix mean
	// holds. Default 10.
	NextItemWindow int
	// NextItemNegatives is the number of negatives drawn per session for
	// the next-item objective. Default 20.
	NextItemNegatives int
	// Workers is the number of goroutines. More than one updates the
	// parameters without locks (Hogwild); only one worker is deterministic.
	// Default 1.
	Workers int
	// Seed seeds all randomness. Train with the same corpus, config and seed
	// and one worker gives a bit-for-bit identical model.
	Seed uint64
	// Progress, when set, is called from the training goroutines (one call
	// at a time) about every 1% of the work and at the end. After a retry
	// its counts start again from zero.
	Progress func(Progress)
	// Retried, when set, is called from Train's goroutine after each
	// training that diverged, before Train starts again at half its rate:
	// the only record of the retries, since the model's Info holds just the
	// rate that trained.
	Retried func(Retry)
}

// MaxRetries is how many times Train starts a training that diverged
// again, each time from scratch, with the same seed and half the learning
// rate of the one before. Four halvings take the rate down 16-fold; a
// training that diverges even then is a config error, not bad luck.
const MaxRetries = 4

// Retry records a training that diverged and that Train started again.
type Retry struct {
	// LearningRate is the initial learning rate of the training that
	// diverged; the next one started at half of it.
	LearningRate float32
	// Reason says what went wrong and when, e.g. "non-finite parameters
	// in epoch 3 of 100".
	Reason string
}

// Progress reports how far training is.
type Progress struct {
	Epoch, Epochs int   // Epoch counts from 1
	Done, Total   int64 // sessions processed, of Total over all epochs
	Pairs         int64 // positive pairs (and next-item positions) trained so far
	LearningRate  float32
}

// Info describes a trained model: its parameters and its data.
type Info struct {
	// Version identifies the model. Train leaves it empty; the artefact
	// writer fills it with a digest of the parameters unless it is set.
	Version string
	// The training parameters. LearningRate is the rate that trained: after
	// retries (see TrainConfig.Retried) a half or less of the one asked for.
	Epochs, Negatives, PartSize, MaxPart, MaxEvents int
	KeepAll                                         bool
	NegativePower, Subsample                        float64
	LearningRate, PurchaseWeight                    float32
	Workers                                         int
	Seed                                            uint64
	// The data: sessions given and kept, items in the catalogue and in kept
	// sessions, events in kept sessions, positive pairs (and next-item
	// positions) trained.
	Sessions, KeptSessions, Items, TrainedItems int
	Events, Pairs                               int64
	From, To                                    time.Time
}

func (c *TrainConfig) fill() error {
	if c.Dims == (Dims{}) {
		c.Dims = DefaultDims()
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Epochs, 20)
	def(&c.Negatives, 5)
	def(&c.PartSize, 10)
	def(&c.MaxPart, 4*c.PartSize)
	def(&c.MaxEvents, 50)
	def(&c.Workers, 1)
	def(&c.NextItemWindow, 10)
	def(&c.NextItemNegatives, 20)
	if c.NextItemDecay == 0 {
		c.NextItemDecay = 5
	}
	if c.NegativePower == 0 {
		c.NegativePower = 0.75
	}
	if c.LearningRate == 0 {
		c.LearningRate = 0.025
	}
	if c.PurchaseWeight == 0 {
		c.PurchaseWeight = 3
	}
	switch {
	case c.Epochs < 0, c.Negatives < 0, c.PartSize < 1, c.MaxPart < 2, c.MaxEvents < 2, c.Workers < 1:
		return fmt.Errorf("model: train config out of range: epochs %d, negatives %d, part size %d, max part %d, max events %d, workers %d",
			c.Epochs, c.Negatives, c.PartSize, c.MaxPart, c.MaxEvents, c.Workers)
	case !(c.LearningRate > 0) || !(c.PurchaseWeight > 0) || c.Subsample < 0 || math.IsNaN(c.NegativePower):
		return fmt.Errorf("model: train config out of range: learning rate %v, purchase weight %v, subsample %v, negative power %v",
			c.LearningRate, c.PurchaseWeight, c.Subsample, c.NegativePower)
	case !(c.NextItem >= 0) || math.IsInf(float64(c.NextItem), 0) || !(c.NextItemDecay > 0) || c.NextItemWindow < 1 || c.NextItemNegatives < 1:
		return fmt.Errorf("model: train config out of range: next item %v, next-item decay %v, window %d, negatives %d",
			c.NextItem, c.NextItemDecay, c.NextItemWindow, c.NextItemNegatives)
	case !(c.NextItemTemperature >= 0) || math.IsInf(float64(c.NextItemTemperature), 0):
		return fmt.Errorf("model: train config out of range: next-item temperature %v", c.NextItemTemperature)
	case c.NextItemOnly && c.NextItem == 0:
		return errors.New("model: train config: NextItemOnly without a NextItem weight trains nothing")
	}
	return c.Dims.validate()
}

// ErrNoSessions is returned by Train when no session passes the filters.
var ErrNoSessions = errors.New("model: no training session left after filtering")

// ErrDiverged is returned by Train, wrapped with the rates tried, when a
// parameter became NaN or infinite at the learning rate asked for and at
// each of MaxRetries halvings of it: the rate is far too high for the data.
var ErrDiverged = errors.New("model: training diverged (non-finite parameters)")

// Train learns item-encoder parameters from c with skip-gram and negative
// sampling adapted to purchases: sessions without a purchase (unless
// KeepAll) or with more than MaxEvents events are dropped; each epoch splits
// every kept session at random into contiguous parts; every item of a part
// is pulled towards the context vector of every other item of the part, with
// PurchaseWeight on pairs that hold a purchase, and pushed away from the
// context vectors of Negatives items drawn from unigram^NegativePower. The
// gradients flow into the token, category, brand and price parameters of
// the centre item's In tables and of the context items' Ctx tables. With
// cfg.NextItem > 0 the next-item objective (see TrainConfig.NextItem and
// the package doc) trains as well, or alone with NextItemOnly.
//
// A training that diverges (a parameter becomes NaN or infinite) is
// started again from scratch at half the learning rate, up to MaxRetries
// times, calling cfg.Retried each time; the model's Info.LearningRate is
// the rate that trained.
func Train(c Corpus, cfg TrainConfig) (*Model, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	for s, evs := range c.Sessions {
		for _, e := range evs {
			if e.Item < 0 || int(e.Item) >= len(c.Items) {
				return nil, fmt.Errorf("model: session %d: item index %d out of range [0, %d)", s, e.Item, len(c.Items))
			}
		}
	}
	var retries []Retry
	for {
		t := newTrainer(c, cfg)
		if len(t.sessions) == 0 {
			return nil, ErrNoSessions
		}
		t.run()
		reason := t.divergence()
		if reason == "" {
			t.m.Info = t.info(c)
			return t.m, nil
		}
		r := Retry{LearningRate: cfg.LearningRate, Reason: reason}
		retries = append(retries, r)
		if len(retries) > MaxRetries {
			return nil, errDivergedAt(retries)
		}
		if cfg.Retried != nil {
			cfg.Retried(r)
		}
		cfg.LearningRate /= 2
	}
}

// errDivergedAt wraps ErrDiverged with every rate tried and its reason.
func errDivergedAt(retries []Retry) error {
	tried := make([]string, len(retries))
	for i, r := range retries {
		tried[i] = fmt.Sprintf("%v (%s)", r.LearningRate, r.Reason)
	}
	return fmt.Errorf("%w at every learning rate tried, halving it %d times: %s; start lower",
		ErrDiverged, len(retries)-1, strings.Join(tried, ", "))
}

// info describes the model t trained on c.
func (t *trainer) info(c Corpus) Info {
	cfg := t.cfg
	return Info{
		Epochs: cfg.Epochs, Negatives: cfg.Negatives, PartSize: cfg.PartSize, MaxPart: cfg.MaxPart,
		MaxEvents: cfg.MaxEvents, KeepAll: cfg.KeepAll, NegativePower: cfg.NegativePower,
		Subsample: cfg.Subsample, LearningRate: cfg.LearningRate, PurchaseWeight: cfg.PurchaseWeight,
		Workers: cfg.Workers, Seed: cfg.Seed,
		Sessions: len(c.Sessions), KeptSessions: len(t.sessions), Items: len(c.Items),
		TrainedItems: len(t.items), Events: t.events, Pairs: t.pairs.Load(), From: c.From, To: c.To,
	}
}

// trainer holds the state shared by the training workers.
type trainer struct {
	cfg      TrainConfig
	m        *Model
	sessions [][]Event // kept, with Item remapped to dense trained-item ids
	items    []int32   // trained item id -> corpus index
	feats    []Features
	keep     []float32 // per trained item: probability to keep an occurrence
	negTable []int32
	events   int64
	// recency[k] is the next-item weight of the item k steps before the
	// latest: exp(-k/NextItemDecay), k < NextItemWindow.
	recency []float32

	done  atomic.Int64
	pairs atomic.Int64
	total int64
	// divergedAt is the value of done when a worker first saw a non-finite
	// vector, or 0; the workers stop once it is set.
	divergedAt atomic.Int64

	progMu   sync.Mutex
	lastProg int64
}

func newTrainer(c Corpus, cfg TrainConfig) *trainer {
	t := &trainer{cfg: cfg}
	dense := map[int32]int32{}
	var counts []int64
	for _, evs := range c.Sessions {
		if len(evs) < 2 || len(evs) > cfg.MaxEvents {
			continue
		}
		if !cfg.KeepAll && !slices.ContainsFunc(evs, func(e Event) bool { return e.Purchase }) {
			continue
		}
		s := make([]Event, len(evs))
		for i, e := range evs {
			d, ok := dense[e.Item]
			if !ok {
				d = int32(len(t.items))
				dense[e.Item] = d
				t.items = append(t.items, e.Item)
				counts = append(counts, 0)
			}
			counts[d]++
			s[i] = Event{Item: d, Purchase: e.Purchase}
		}
		t.sessions = append(t.sessions, s)
		t.events += int64(len(s))
	}

	// Vocabularies hold only what trained items carry: a row that never
	// receives a gradient would be noise.
	toks, cats, brands := NewVocab(), NewVocab(), NewVocab()
	var logSum, logSq float64
	var priced int
	for _, ci := range t.items {
		it := c.Items[ci]
		for _, tok := range it.Tokens() {
			toks.Add(tok)
		}
		for _, cat := range it.Categories() {
			cats.Add(cat)
		}
		brands.Add(it.BrandKey())
		if it.KnownPrice() {
			l := math.Log(it.Price)
			logSum += l
			logSq += l * l
			priced++
		}
	}
	mean, scale := float32(0), float32(1)
	if priced > 0 {
		mu := logSum / float64(priced)
		mean = float32(mu)
		if sd := math.Sqrt(max(0, logSq/float64(priced)-mu*mu)); sd > 1e-6 {
			scale = float32(sd)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5e55))
	t.m = newModel(cfg.Dims, toks, cats, brands, mean, scale, rng)
	if cfg.NextItem > 0 && cfg.NextItemTemperature > 0 {
		ctx, n := &t.m.Ctx, cfg.Dims.Total()
		for _, tab := range []*[]float32{&ctx.Tokens, &ctx.Categories, &ctx.Brands, &ctx.PriceW, &ctx.PriceUnknown} {
			*tab = randTable(rng, len(*tab), n)
		}
	}
	t.feats = make([]Features, len(t.items))
	for d, ci := range t.items {
		t.feats[d] = t.m.Resolve(c.Items[ci])
	}
	t.negTable = unigramTable(counts, cfg.NegativePower)
	t.keep = make([]float32, len(t.items))
	for d, n := range counts {
		t.keep[d] = 1
		if cfg.Subsample > 0 {
			f := float64(n) / float64(t.events)
			t.keep[d] = float32(min(1, (math.Sqrt(f/cfg.Subsample)+1)*cfg.Subsample/f))
		}
	}
	t.recency = make([]float32, cfg.NextItemWindow)
	for k := range t.recency {
		t.recency[k] = float32(math.Exp(-float64(k) / cfg.NextItemDecay))
	}
	t.total = int64(cfg.Epochs) * int64(len(t.sessions))
	return t
}

// unigramTable returns a table in which each item occupies a share of the
// slots proportional to count^power: drawing a uniform slot draws from the
// unigram^power distribution.
func unigramTable(counts []int64, power float64) []int32 {
	size := max(1<<20, 8*len(counts))
	var z float64
	for _, n := range counts {
		z += math.Pow(float64(n), power)
	}
	table := make([]int32, 0, size)
	var cum float64
	for i, n := range counts {
		cum += math.Pow(float64(n), power) / z
		for float64(len(table)) < cum*float64(size) && len(table) < size {
			table = append(table, int32(i))
		}
	}
	for len(table) < size {
		table = append(table, int32(len(counts)-1))
	}
	return table
}

func (t *trainer) run() {
	var wg sync.WaitGroup
	for w := range t.cfg.Workers {
		wg.Go(func() { t.work(w) })
	}
	wg.Wait()
	t.report(true)
}

// work trains on the sessions s with s % Workers == w, in a fresh random
// order each epoch.
func (t *trainer) work(w int) {
	cfg := t.cfg
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(w)+1))
	var mine []int32
	for s := w; s < len(t.sessions); s += cfg.Workers {
		mine = append(mine, int32(s))
	}
	dim := cfg.Dims.Total()
	st := &step{
		t: t, rng: rng,
		v: make([]float32, dim), g: make([]float32, dim), o: make([]float32, dim),
		h: make([]float32, dim), gh: make([]float32, dim),
	}
	for range cfg.Epochs {
		rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
		for _, s := range mine {
			if t.divergedAt.Load() != 0 {
				return
			}
			done := t.done.Add(1)
			lr := cfg.LearningRate * max(1e-4, 1-float32(done)/float32(t.total+1))
			t.pairs.Add(st.session(t.sessions[s], lr))
			if !st.finite() {
				// A NaN spreads to every row it meets: carrying on would
				// only spend the time a retry needs.
				t.divergedAt.CompareAndSwap(0, done)
				return
			}
			if done-t.lastProgress() >= t.total/100+1 {
				t.report(false)
			}
		}
	}
}

func (t *trainer) lastProgress() int64 {
	t.progMu.Lock()
	defer t.progMu.Unlock()
	return t.lastProg
}

func (t *trainer) report(final bool) {
	t.progMu.Lock()
	defer t.progMu.Unlock()
	done := t.done.Load()
	if !final && done-t.lastProg < t.total/100+1 {
		return
	}
	t.lastProg = done
	if t.cfg.Progress == nil {
		return
	}
	n := int64(len(t.sessions))
	t.cfg.Progress(Progress{
		Epoch: int(min(int64(t.cfg.Epochs), done/n+1)), Epochs: t.cfg.Epochs,
		Done: done, Total: t.total, Pairs: t.pairs.Load(),
		LearningRate: t.cfg.LearningRate * max(1e-4, 1-float32(done)/float32(t.total+1)),
	})
}

// divergence says why the training diverged, or "" if it did not: a
// worker stopped at a non-finite vector, or a parameter is not finite at
// the end (a NaN that reached no worker's last vectors).
func (t *trainer) divergence() string {
	if at := t.divergedAt.Load(); at != 0 {
		n := int64(len(t.sessions))
		return fmt.Sprintf("non-finite parameters in epoch %d of %d", (at-1)/n+1, t.cfg.Epochs)
	}
	if !t.m.finite() {
		return "non-finite parameters at the end of training"
	}
	return ""
}

// finite reports whether every parameter of m is a finite number.
func (m *Model) finite() bool {
	for _, t := range []*Tables{&m.In, &m.Ctx} {
		for _, tab := range [][]float32{t.Tokens, t.Categories, t.Brands, t.PriceW, t.PriceB, t.PriceUnknown} {
			for _, x := range tab {
				if x-x != 0 {
					return false
				}
			}
		}
	}
	return true
}
