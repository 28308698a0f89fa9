package eval_test

import (
	"math"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/model/eval"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

// dataDir returns the shared data directory (see dataset.DataDir). It
// fails the test when there is none: the real-data tests must run.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := dataset.DataDir()
	if err != nil {
		t.Fatalf("real datasets not found: %v", err)
	}
	return dir
}

// loadSplit loads a dataset as an evaluation split, with the training
// sessions' end times for recency.
func loadSplit(t *testing.T, name string) eval.Split {
	t.Helper()
	d, err := dataset.Load(dataDir(t), name)
	if err != nil {
		t.Fatal(err)
	}
	var s eval.Split
	for _, ss := range d.Train {
		s.Train = append(s.Train, ss.Items())
		s.TrainEnd = append(s.TrainEnd, ss.End())
	}
	for _, ss := range d.Test {
		s.Test = append(s.Test, ss.Items())
	}
	return s
}

func newMethods(t *testing.T) []eval.Method {
	t.Helper()
	iknn, err := eval.NewItemKNN(eval.ItemKNNConfig{})
	if err != nil {
		t.Fatal(err)
	}
	sknn, err := eval.NewSKNN(eval.SKNNConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return []eval.Method{eval.NewPop(), iknn, sknn}
}

// TestBaselinesMatchReference checks the protocol and the baselines
// against the figures of shared/BASELINES.md, measured with session-rec.
func TestBaselinesMatchReference(t *testing.T) {
	// tol is how far HR@20 and MRR@20 may be from the reference: 0.02 in
	// general, tighter where the method reproduces session-rec closely
	// (the POP and Item-KNN runs match to 0.001), so that a regression
	// shows.
	type ref struct{ hr, mrr, tol float64 }
	// cases counts the cases with a known input item, as the reference
	// does; the noInput cases are evaluated too (and count in the HR and
	// MRR denominators), so Result.Cases = cases + noInput.
	tests := []struct {
		name                    string
		cases, skipped, noInput int
		items                   int
		want                    map[string]ref
	}{
		{dataset.Yoochoose, 10152, 0, 0, 2933, map[string]ref{
			"POP": {0.0894, 0.0264, 0.003}, "Item-KNN": {0.3990, 0.1804, 0.005}, "SKNN": {0.6569, 0.3215, 0.02},
		}},
		{dataset.DigineticaSeq, 44592, 258, 33, 38842, map[string]ref{
			"POP": {0.0093, 0.0021, 0.003}, "Item-KNN": {0.3866, 0.1201, 0.005}, "SKNN": {0.5273, 0.1721, 0.02},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			split := loadSplit(t, tc.name)
			for _, m := range newMethods(t) {
				start := time.Now()
				got, err := eval.Evaluate(t.Context(), m, split, eval.Config{Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %v (total %.2fs)", tc.name, got, time.Since(start).Seconds())
				if got.Cases-got.NoInput != tc.cases || got.Skipped != tc.skipped || got.NoInput != tc.noInput || got.Items != tc.items {
					t.Errorf("%s: got cases with input %d skipped %d no-input %d items %d, want %d %d %d %d",
						m.Name(), got.Cases-got.NoInput, got.Skipped, got.NoInput, got.Items, tc.cases, tc.skipped, tc.noInput, tc.items)
				}
				w := tc.want[m.Name()]
				if math.Abs(got.HR-w.hr) > w.tol || math.Abs(got.MRR-w.mrr) > w.tol {
					t.Errorf("%s: got HR@20 %.4f MRR@20 %.4f, want %.4f %.4f (±%.3f)", m.Name(), got.HR, got.MRR, w.hr, w.mrr, w.tol)
				}
			}
		})
	}
}
