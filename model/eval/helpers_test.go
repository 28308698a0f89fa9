package eval_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/sessionrec/sessionrec/model/eval"
)

// scoreOf fits m on sessions and scores prefix.
func scoreOf(t *testing.T, m eval.Method, nItems int, sessions [][]int32, prefix []int32) []float32 {
	t.Helper()
	if err := m.Fit(&eval.TrainSet{Sessions: sessions, NItems: nItems}); err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, nItems)
	for i := range dst {
		dst[i] = -99 // Score must overwrite everything
	}
	m.NewScorer().Score(prefix, dst)
	return dst
}

func requireScores(t *testing.T, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d scores, want %d", len(got), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 {
			t.Errorf("item %d: got score %.7f, want %.7f (all: got %v)", i, got[i], want[i], got)
		}
	}
}

// atoiAll parses the decimal item ids that randomSplit makes.
func atoiAll(tb testing.TB, ids []string) []int32 {
	tb.Helper()
	out := make([]int32, len(ids))
	for i, id := range ids {
		x, err := strconv.Atoi(id)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = int32(x)
	}
	return out
}

// syntheticTrainSet makes a skewed training set of about the size of
// diginetica-seq for benchmarks.
func syntheticTrainSet(tb testing.TB, nItems, nSessions int) *eval.TrainSet {
	tb.Helper()
	split := randomSplit(1, nItems, nSessions, 0)
	ts := &eval.TrainSet{NItems: nItems}
	for _, s := range split.Train {
		ts.Sessions = append(ts.Sessions, atoiAll(tb, s))
	}
	return ts
}
