package eval_test

import (
	"math"
	"testing"

	"github.com/sessionrec/sessionrec/model/eval"
)

func TestItemKNN(t *testing.T) {
	// supp (events): 0 -> 3, 1 -> 2, 2 -> 2, 3 -> 1.
	// co(i,j) sums m_i(s) over the sessions holding both, so it is not
	// symmetric: co(0,1) = 2 (item 0 twice in session 0), co(1,0) = 1.
	sessions := [][]int32{{0, 1, 0}, {1, 2}, {0, 2}, {3}}
	den := func(i, j float64) float64 { return math.Sqrt(i+20) * math.Sqrt(j+20) }
	tests := []struct {
		name   string
		cfg    eval.ItemKNNConfig
		prefix []int32
		want   []float64
	}{
		{"last item 0", eval.ItemKNNConfig{}, []int32{2, 0}, []float64{0, 2 / den(3, 2), 1 / den(3, 2), 0}},
		{"last item 1", eval.ItemKNNConfig{}, []int32{1}, []float64{1 / den(2, 3), 0, 1 / den(2, 2), 0}},
		{"one neighbour", eval.ItemKNNConfig{Neighbours: 1}, []int32{0}, []float64{0, 2 / den(3, 2), 0, 0}},
		{"alpha 1, tiny lambda", eval.ItemKNNConfig{Alpha: 1, Lambda: 1e-12}, []int32{2}, []float64{1.0 / 2, 1.0 / 2, 0, 0}},
		{"no co-occurrence", eval.ItemKNNConfig{}, []int32{3}, []float64{0, 0, 0, 0}},
		{"empty prefix", eval.ItemKNNConfig{}, nil, []float64{0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := eval.NewItemKNN(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			requireScores(t, scoreOf(t, m, 4, sessions, tc.prefix), tc.want)
		})
	}
	if _, err := eval.NewItemKNN(eval.ItemKNNConfig{Alpha: 2}); err == nil {
		t.Error("Alpha 2: got no error, want one")
	}
}

func BenchmarkItemKNNFit(b *testing.B) {
	ts := syntheticTrainSet(b, 40000, 60000)
	m, err := eval.NewItemKNN(eval.ItemKNNConfig{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.Fit(ts); err != nil {
			b.Fatal(err)
		}
	}
}
