package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultK is the default cut-off of HR@K and MRR@K.
const DefaultK = 20

// Config tunes [Evaluate]. The zero Config is valid.
type Config struct {
	// K is the cut-off of HR@K and MRR@K. Zero means [DefaultK].
	K int
	// Seed seeds the tie-breaking; with the same Seed the result is the
	// same for any number of Workers.
	Seed uint64
	// Workers is the number of goroutines scoring cases. Zero means
	// runtime.GOMAXPROCS(0).
	Workers int
}

// Split is a train/test split of sessions given as item-id sequences.
type Split struct {
	// Train and Test are the sessions, each a sequence of item ids in
	// event order. Evaluate does not modify them.
	Train, Test [][]string
	// TrainEnd, when not nil, holds the time of the last event of each
	// training session (len(TrainEnd) == len(Train)); Evaluate then
	// orders the training sessions by it (stably) before fitting, so that
	// recency-based methods such as [SKNN] see the latest sessions last.
	// When nil, Train is taken to be in time order already.
	TrainEnd []time.Time
	// TrainPurchase, when not nil, marks the purchase events of each
	// training session (len(TrainPurchase[i]) == len(Train[i])).
	TrainPurchase [][]bool
	// Cold are items hidden from training (cold start): their events are
	// left out of the training sessions (a session left with none is
	// dropped), but they stay in the item universe, after the training
	// items, so that a method that knows them otherwise (the model, from
	// their features) can recommend them. The cases whose target is one
	// of them are also reported apart (Result.ColdCases, ColdHR, ColdMRR).
	Cold []string
}

// Result is the outcome of evaluating one method on one split.
type Result struct {
	// Method is the method's Name.
	Method string
	// K is the cut-off used.
	K int
	// HR is HR@K: the share of evaluated cases whose target ranks in the
	// top K.
	HR float64
	// MRR is MRR@K: the mean over evaluated cases of 1/rank, 0 outside
	// the top K.
	MRR float64
	// Cases is the number of evaluated cases (prefix, target), the
	// denominator of HR and MRR. It includes the NoInput cases, which
	// shared/BASELINES.md leaves out of its case counts: its 44,592 cases
	// on diginetica-seq are Cases - NoInput here.
	Cases int
	// Skipped is the number of cases not evaluated because the target was
	// not seen in training.
	Skipped int
	// NoInput is the number of evaluated cases whose prefix has no item
	// seen in training.
	NoInput int
	// ColdCases counts the evaluated cases whose target is a Split.Cold
	// item, and ColdHR and ColdMRR are HR@K and MRR@K over them alone.
	ColdCases       int
	ColdHR, ColdMRR float64
	// Items is the size of the item universe (items seen in training).
	Items int
	// FitTime is the wall time of Method.Fit.
	FitTime time.Duration
	// EvalTime is the wall time of scoring and ranking all cases.
	EvalTime time.Duration
}

// String formats r on one line, e.g.
// "SKNN HR@20 0.6569 MRR@20 0.3215 cases 10152 skipped 0 no-input 0 fit 0.1s eval 0.8s".
func (r Result) String() string {
	return fmt.Sprintf("%s HR@%d %.4f MRR@%d %.4f cases %d skipped %d no-input %d fit %.2fs eval %.2fs",
		r.Method, r.K, r.HR, r.K, r.MRR, r.Cases, r.Skipped, r.NoInput, r.FitTime.Seconds(), r.EvalTime.Seconds())
}

// Evaluate fits m on s.Train and evaluates it on every case of s.Test under
// the protocol described in the package documentation. It returns an error
// for an invalid Config or Split, when Fit fails, or when ctx ends
// (wrapping ctx.Err()).
func Evaluate(ctx context.Context, m Method, s Split, cfg Config) (Result, error) {
	if cfg.K < 0 || cfg.Workers < 0 {
		return Result{}, fmt.Errorf("eval: config: K %d and Workers %d must be >= 0", cfg.K, cfg.Workers)
	}
	if cfg.K == 0 {
		cfg.K = DefaultK
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if s.TrainEnd != nil && len(s.TrainEnd) != len(s.Train) {
		return Result{}, fmt.Errorf("eval: split: %d TrainEnd times for %d train sessions", len(s.TrainEnd), len(s.Train))
	}
	if s.TrainPurchase != nil {
		if len(s.TrainPurchase) != len(s.Train) {
			return Result{}, fmt.Errorf("eval: split: %d TrainPurchase sessions for %d train sessions", len(s.TrainPurchase), len(s.Train))
		}
		for i, p := range s.TrainPurchase {
			if len(p) != len(s.Train[i]) {
				return Result{}, fmt.Errorf("eval: split: train session %d has %d events and %d purchase flags", i, len(s.Train[i]), len(p))
			}
		}
	}
	ts, index, firstCold := prepareTrain(s)
	res := Result{Method: m.Name(), K: cfg.K, Items: ts.NItems}

	start := time.Now()
	if err := m.Fit(ts); err != nil {
		return res, fmt.Errorf("eval: fit %s: %w", res.Method, err)
	}
	res.FitTime = time.Since(start)

	start = time.Now()
	c := newCases(s.Test, index, firstCold)
	res.Cases, res.Skipped, res.NoInput, res.ColdCases = c.n, c.skipped, c.noInput, len(c.cold)
	if err := c.run(ctx, m, ts.NItems, cfg); err != nil {
		return res, fmt.Errorf("eval: %s: %w", res.Method, err)
	}
	res.HR, res.MRR = c.summary()
	res.ColdHR, res.ColdMRR = c.summaryOf(c.cold)
	res.EvalTime = time.Since(start)
	return res, nil
}

// prepareTrain orders the training sessions by TrainEnd (when given) and
// maps their items to dense indices in order of first appearance, leaving
// out the Cold items' events; the Cold items come last, from index
// firstCold on.
func prepareTrain(s Split) (ts *TrainSet, index map[string]int32, firstCold int) {
	order := make([]int, len(s.Train))
	for i := range order {
		order[i] = i
	}
	if s.TrainEnd != nil {
		slices.SortStableFunc(order, func(a, b int) int { return s.TrainEnd[a].Compare(s.TrainEnd[b]) })
	}
	cold := make(map[string]bool, len(s.Cold))
	for _, id := range s.Cold {
		cold[id] = true
	}
	index = make(map[string]int32)
	ts = &TrainSet{}
	for _, o := range order {
		items := make([]int32, 0, len(s.Train[o]))
		var purchase []bool
		for j, id := range s.Train[o] {
			if cold[id] {
				continue
			}
			x, ok := index[id]
			if !ok {
				x = int32(len(index))
				index[id] = x
				ts.IDs = append(ts.IDs, id)
			}
			items = append(items, x)
			if s.TrainPurchase != nil {
				purchase = append(purchase, s.TrainPurchase[o][j])
			}
		}
		if len(items) == 0 {
			continue
		}
		ts.Sessions = append(ts.Sessions, items)
		if s.TrainPurchase != nil {
			ts.Purchase = append(ts.Purchase, purchase)
		}
	}
	firstCold = len(index)
	for _, id := range s.Cold {
		if _, ok := index[id]; !ok {
			index[id] = int32(len(index))
			ts.IDs = append(ts.IDs, id)
		}
	}
	ts.NItems = len(index)
	return ts, index, firstCold
}

// cases holds the test sessions mapped to dense indices and the per-case
// outcomes.
type cases struct {
	sessions [][]int32 // -1 for an item unseen in training
	first    []int     // index of the first evaluated case of each session
	n        int       // evaluated cases
	skipped  int
	noInput  int
	// cold are the evaluated cases whose target is a cold item (an index
	// from firstCold on).
	cold []int
	// rr holds 1/rank of each evaluated case, 0 for a miss. Each case is
	// written by exactly one worker.
	rr []float64
}

func newCases(test [][]string, index map[string]int32, firstCold int) *cases {
	c := &cases{sessions: make([][]int32, len(test)), first: make([]int, len(test))}
	for i, sess := range test {
		items := make([]int32, len(sess))
		known := 0
		for j, id := range sess {
			x, ok := index[id]
			if !ok {
				x = -1
			}
			items[j] = x
			if j > 0 {
				if x < 0 {
					c.skipped++
				} else {
					if known == 0 {
						c.noInput++
					}
					if x >= int32(firstCold) {
						c.cold = append(c.cold, c.n)
					}
					c.n++
				}
			}
			if x >= 0 {
				known++
			}
		}
		c.sessions[i] = items
		if i+1 < len(test) {
			c.first[i+1] = c.n
		}
	}
	c.rr = make([]float64, c.n)
	return c
}

// run scores every case on cfg.Workers goroutines, each with its own
// Scorer, taking sessions from a shared counter.
func (c *cases) run(ctx context.Context, m Method, nItems int, cfg Config) error {
	var next atomic.Int64
	var stopped atomic.Bool
	var wg sync.WaitGroup
	for range cfg.Workers {
		sc := m.NewScorer()
		wg.Go(func() {
			if !c.work(ctx, sc, nItems, cfg, &next) {
				stopped.Store(true)
			}
		})
	}
	wg.Wait()
	if stopped.Load() {
		return ctx.Err()
	}
	return nil
}

// work scores the cases of sessions taken from next until there are none
// left (it returns true) or ctx ends (false).
func (c *cases) work(ctx context.Context, sc Scorer, nItems int, cfg Config, next *atomic.Int64) bool {
	dst := make([]float32, nItems)
	var prefix []int32
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	for {
		if ctx.Err() != nil {
			return false
		}
		i := int(next.Add(1) - 1)
		if i >= len(c.sessions) {
			return true
		}
		sess := c.sessions[i]
		prefix = prefix[:0]
		caseIdx := c.first[i]
		for j, x := range sess {
			if j > 0 && x >= 0 {
				sc.Score(prefix, dst)
				pcg.Seed(cfg.Seed, uint64(caseIdx))
				if r := rank(dst, x, cfg.K, rng); r > 0 {
					c.rr[caseIdx] = 1 / float64(r)
				}
				caseIdx++
			}
			if x >= 0 {
				prefix = append(prefix, x)
			}
		}
	}
}

// summaryOf returns HR and MRR over the cases of idx, in case order.
func (c *cases) summaryOf(idx []int) (hr, mrr float64) {
	if len(idx) == 0 {
		return 0, 0
	}
	hits := 0
	for _, i := range idx {
		if rr := c.rr[i]; rr > 0 {
			hits++
			mrr += rr
		}
	}
	return float64(hits) / float64(len(idx)), mrr / float64(len(idx))
}

// summary returns HR and MRR, summing in case order so that the result
// does not depend on scheduling.
func (c *cases) summary() (hr, mrr float64) {
	if c.n == 0 {
		return 0, 0
	}
	hits := 0
	for _, rr := range c.rr {
		if rr > 0 {
			hits++
			mrr += rr
		}
	}
	return float64(hits) / float64(c.n), mrr / float64(c.n)
}
