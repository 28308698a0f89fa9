package eval_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sessionrec/sessionrec/model/eval"
)

func TestSKNN(t *testing.T) {
	// Sessions in time order: 0 oldest.
	sessions := [][]int32{{0, 1}, {1, 2, 3, 3}, {0, 3}, {4}}
	c := func(inter, p, s float64) float64 { return inter / math.Sqrt(p*s) }
	tests := []struct {
		name   string
		cfg    eval.SKNNConfig
		prefix []int32
		want   []float64
	}{
		{
			// Candidates 1 ({1,2,3}) and 0 ({0,1}).
			"one item", eval.SKNNConfig{}, []int32{1},
			[]float64{c(1, 1, 2), c(1, 1, 2) + c(1, 1, 3), c(1, 1, 3), c(1, 1, 3), 0},
		},
		{"duplicates count once", eval.SKNNConfig{}, []int32{1, 1}, []float64{c(1, 1, 2), c(1, 1, 2) + c(1, 1, 3), c(1, 1, 3), c(1, 1, 3), 0}},
		{
			// Sample 1: only the most recent candidate, session 1.
			"sample size", eval.SKNNConfig{SampleSize: 1}, []int32{1},
			[]float64{0, c(1, 1, 3), c(1, 1, 3), c(1, 1, 3), 0},
		},
		{
			// K 1: the most similar candidate, session 0.
			"k", eval.SKNNConfig{K: 1}, []int32{1},
			[]float64{c(1, 1, 2), c(1, 1, 2), 0, 0, 0},
		},
		{
			// P = {1,3}: session 1 scores 2/sqrt(6); sessions 2 and 0 tie
			// at 1/2 and the more recent, 2, takes the second place.
			"tie prefers recent", eval.SKNNConfig{K: 2}, []int32{1, 3},
			[]float64{c(1, 2, 2), c(2, 2, 3), c(2, 2, 3), c(2, 2, 3) + c(1, 2, 2), 0},
		},
		{"empty prefix", eval.SKNNConfig{}, nil, []float64{0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := eval.NewSKNN(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			requireScores(t, scoreOf(t, m, 5, sessions, tc.prefix), tc.want)
		})
	}
}

// TestSKNNScorerReuse checks that a scorer's scratch state does not leak
// from one prefix into the next.
func TestSKNNScorerReuse(t *testing.T) {
	split := randomSplit(11, 40, 300, 0)
	ts := &eval.TrainSet{NItems: 40}
	for _, s := range split.Train {
		ts.Sessions = append(ts.Sessions, atoiAll(t, s))
	}
	m, err := eval.NewSKNN(eval.SKNNConfig{K: 10, SampleSize: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(ts); err != nil {
		t.Fatal(err)
	}
	reused := m.NewScorer()
	rng := rand.New(rand.NewPCG(11, 1))
	got, want := make([]float32, 40), make([]float32, 40)
	for range 200 {
		prefix := make([]int32, rng.IntN(5))
		for i := range prefix {
			prefix[i] = int32(rng.IntN(40))
		}
		reused.Score(prefix, got)
		m.NewScorer().Score(prefix, want)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("prefix %v item %d: got %v from a reused scorer, want %v", prefix, i, got[i], want[i])
			}
		}
	}
}

func BenchmarkSKNNScore(b *testing.B) {
	const nItems = 40000
	ts := syntheticTrainSet(b, nItems, 60000)
	m, err := eval.NewSKNN(eval.SKNNConfig{})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Fit(ts); err != nil {
		b.Fatal(err)
	}
	sc := m.NewScorer()
	dst := make([]float32, nItems)
	prefixes := ts.Sessions[:1000]
	i := 0
	for b.Loop() {
		p := prefixes[i%len(prefixes)]
		sc.Score(p[:1+i%len(p)], dst)
		i++
	}
}
