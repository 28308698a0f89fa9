package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/eval"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

var evalMethods = []string{"pop", "item-knn", "sknn", "neighbours", "model-mean", "model-intents"}

// evalReport is the -json output of eval.
type evalReport struct {
	Dataset      string       `json:"dataset"`
	Results      []evalResult `json:"results"`
	TrainSeconds float64      `json:"train_seconds"`
	// LearningRate is the rate the model methods trained at: --lr unless
	// training diverged and was retried at lower rates (LRRetries). Both
	// are left out when no model method ran.
	LearningRate float32     `json:"learning_rate,omitempty"`
	LRRetries    []evalRetry `json:"lr_retries,omitempty"`
	// Settings are the value of every flag the run used, and Command the
	// one command that runs it again with exactly those (every flag
	// spelled out, so that a default changed since does not change the
	// figures; --data is left out, a path of this machine's).
	Settings map[string]string `json:"settings"`
	Command  string            `json:"command"`
	// ColdItems is the number of items hidden from training by
	// --cold-items (each result then has its cold_* figures).
	ColdItems int `json:"cold_items,omitempty"`
}

// evalRetry is a training that diverged at LR and was started again.
type evalRetry struct {
	LR     float32 `json:"lr"`
	Reason string  `json:"reason"`
}

type evalResult struct {
	Method  string  `json:"method"`
	HR20    float64 `json:"hr20"`
	MRR20   float64 `json:"mrr20"`
	Cases   int     `json:"cases"`
	Skipped int     `json:"skipped"`
	// ColdCases, ColdHR20 and ColdMRR20 are over the cases whose target
	// is a hidden item (--cold-items), left out without it.
	ColdCases   int      `json:"cold_cases,omitempty"`
	ColdHR20    *float64 `json:"cold_hr20,omitempty"`
	ColdMRR20   *float64 `json:"cold_mrr20,omitempty"`
	NoInput     int      `json:"no_input"`
	FitSeconds  float64  `json:"fit_seconds"`
	EvalSeconds float64  `json:"eval_seconds"`
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		methods  = fs.String("methods", strings.Join(evalMethods, ","), "comma-separated methods to run; a model method may end in @W to rank with neighbourhood weight W instead of --neighbours (model-intents@0: the vectors alone)")
		asJSON   = fs.Bool("json", false, "print one JSON object instead of a table")
		workers  = fs.Int("eval-workers", 0, "evaluation goroutines (0: GOMAXPROCS)")
		coldFrac = fs.Float64("cold-items", 0, "cold start: hide this fraction of the training items, chosen at random with --seed, from every training event (their features stay), and report the cases whose target is one of them apart (0: none)")
		mf       modelFlags
		df       dataFlags
		nbWeight = fs.Float64("neighbours", model.DefaultNeighbours, "weight in [0, 1] of the neighbourhood term in the model methods' score (0: the vectors alone)")
		sequence = fs.Float64("sequence", model.DefaultSequence, "in [0, 1]: the model methods raise the items training sessions went on to right after the prefix's latest item by this times their weight (model.RankOptions.Sequence; 0: not at all)")
		repeat   = fs.Float64("repeat", model.DefaultRepeat, "in [0, 1]: the model methods raise the prefix's latest item by 1 and its earlier items by this (model.RankOptions.Repeat; 0: not at all)")
	)
	df.register(fs, dataset.Yoochoose)
	mf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"neighbours", *nbWeight}, {"sequence", *sequence}, {"repeat", *repeat}} {
		if err := unitFlag(f.name, f.v); err != nil {
			return err
		}
	}
	settings, command := evalSettings(fs)
	d, tc, err := loadTraining(&df, &mf)
	if err != nil {
		return err
	}
	var retries []model.Retry
	tc.Retried = func(r model.Retry) {
		retries = append(retries, r)
		if !*asJSON {
			fmt.Fprintln(stderr, retryLine(r))
		}
	}
	split := evalSplit(d)
	if !(*coldFrac >= 0 && *coldFrac < 1) {
		return fmt.Errorf("--cold-items %v: want a fraction from 0 to below 1", *coldFrac)
	}
	split.Cold = coldItems(split.Train, *coldFrac, mf.seed)
	cfg := eval.Config{Seed: mf.seed, Workers: *workers}
	report := evalReport{Dataset: d.Name, Settings: settings, Command: command, ColdItems: len(split.Cold)}
	var (
		mean       *eval.Model
		modelNames []string // the model methods run, which share mean's training
	)
	for _, name := range strings.Split(*methods, ",") {
		var m eval.Method
		base, weight, hasWeight := strings.Cut(name, "@")
		nbw := *nbWeight
		if hasWeight {
			if base != "model-mean" && base != "model-intents" {
				return fmt.Errorf("method %q: only the model methods take a neighbourhood weight (@W)", name)
			}
			if nbw, err = strconv.ParseFloat(weight, 64); err != nil || !(nbw >= 0 && nbw <= 1) {
				return fmt.Errorf("method %q: @%s is not a neighbourhood weight from 0 to 1", name, weight)
			}
		}
		switch base {
		case "pop":
			m = eval.NewPop()
		case "item-knn":
			m, err = eval.NewItemKNN(eval.ItemKNNConfig{})
		case "sknn":
			m, err = eval.NewSKNN(eval.SKNNConfig{})
		case "neighbours":
			m = eval.NewNeighbours()
		case "model-mean", "model-intents":
			mc := eval.ModelConfig{Name: name, Train: tc, Intents: base == "model-intents", Intent: mf.intentConfig(), Items: modelItems(d),
				Neighbours: float32(nbw), Repeat: float32(*repeat), Sequence: float32(*sequence)}
			if mean != nil {
				mc.Trained = mean.Trained()
			}
			modelNames = append(modelNames, name)
			var em *eval.Model
			if em, err = eval.NewModel(mc); err == nil {
				m = em
				if mean == nil {
					mean = em
				}
			}
		default:
			return fmt.Errorf("unknown method %q (want some of %s)", name, strings.Join(evalMethods, ","))
		}
		if err != nil {
			return err
		}
		if !*asJSON {
			fmt.Fprintf(stderr, "evaluating %s on %s ...\n", name, d.Name)
		}
		r, err := eval.Evaluate(ctx, m, split, cfg)
		if err != nil {
			return err
		}
		if em, ok := m.(*eval.Model); ok && em == mean {
			report.TrainSeconds = r.FitTime.Seconds()
		}
		report.Results = append(report.Results, evalResult{
			Method: name, HR20: r.HR, MRR20: r.MRR, Cases: r.Cases, Skipped: r.Skipped, NoInput: r.NoInput,
			FitSeconds: r.FitTime.Seconds(), EvalSeconds: r.EvalTime.Seconds(),
		})
		if len(split.Cold) > 0 {
			last := &report.Results[len(report.Results)-1]
			last.ColdCases, last.ColdHR20, last.ColdMRR20 = r.ColdCases, &r.ColdHR, &r.ColdMRR
		}
	}
	if mean != nil {
		report.LearningRate = mean.Trained().Info.LearningRate
		for _, r := range retries {
			report.LRRetries = append(report.LRRetries, evalRetry{LR: r.LearningRate, Reason: r.Reason})
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(report)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	cold := len(split.Cold) > 0
	head := "method\tHR@20\tMRR@20\tcases\tskipped\tno input\tfit\teval\t"
	if cold {
		head += "cold HR@20\tcold MRR@20\tcold cases\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range report.Results {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%d\t%d\t%d\t%s\t%s\t", r.Method, r.HR20, r.MRR20, r.Cases, r.Skipped, r.NoInput,
			seconds(r.FitSeconds), seconds(r.EvalSeconds))
		if cold {
			fmt.Fprintf(tw, "%.4f\t%.4f\t%d\t", *r.ColdHR20, *r.ColdMRR20, r.ColdCases)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s := retrySummary(report.LearningRate, retries); s != "" {
		fmt.Fprintf(stdout, "%s %s\n", strings.Join(modelNames, " and "), s)
	}
	return nil
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// evalSplit turns a dataset's train and test sessions into the evaluation
// protocol's split: item sequences, training session end times (when the
// dataset has real times) and purchase flags.
func evalSplit(d *dataset.Dataset) eval.Split {
	var s eval.Split
	for _, sess := range d.Train {
		s.Train = append(s.Train, sess.Items())
		p := make([]bool, len(sess.Events))
		for i, e := range sess.Events {
			p[i] = e.Kind == dataset.Purchase
		}
		s.TrainPurchase = append(s.TrainPurchase, p)
		if d.HasTime {
			s.TrainEnd = append(s.TrainEnd, sess.End())
		}
	}
	for _, sess := range d.Test {
		s.Test = append(s.Test, sess.Items())
	}
	if !slices.ContainsFunc(s.TrainPurchase, func(p []bool) bool { return slices.Contains(p, true) }) {
		s.TrainPurchase = nil
	}
	return s
}

// evalSettings returns every flag's value, and the eval command that sets
// each of them so (without --json, --data and --eval-workers, which do not
// change the figures).
func evalSettings(fs *flag.FlagSet) (map[string]string, string) {
	settings := map[string]string{}
	cmd := []string{"sessionrec", "eval"}
	fs.VisitAll(func(f *flag.Flag) {
		settings[f.Name] = f.Value.String()
		switch f.Name {
		case "json", "data", "eval-workers":
			return
		}
		cmd = append(cmd, fmt.Sprintf("--%s=%s", f.Name, f.Value.String()))
	})
	return settings, strings.Join(cmd, " ")
}

// coldItems picks the items hidden from training for --cold-items: frac of
// the distinct items of the training sessions, at random with seed.
func coldItems(train [][]string, frac float64, seed uint64) []string {
	if frac <= 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, s := range train {
		for _, id := range s {
			seen[id] = true
		}
	}
	ids := slices.Sorted(maps.Keys(seen))
	rng := rand.New(rand.NewPCG(seed, 0xc01d))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids[:int(math.Round(frac*float64(len(ids))))]
}

// unitFlag checks that flag --name's value v is from 0 to 1.
func unitFlag(name string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return fmt.Errorf("--%s %v: want 0 to 1", name, v)
	}
	return nil
}
