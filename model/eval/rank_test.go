package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRank(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		scores []float32
		target int32
		k      int
		want   int
	}{
		{"best", []float32{3, 1, 2}, 0, 20, 1},
		{"third", []float32{3, 1, 2}, 1, 20, 3},
		{"beyond k", []float32{3, 1, 2}, 1, 2, 0},
		{"at k", []float32{3, 1, 2}, 1, 3, 3},
		{"zero score", []float32{0, 0, 0}, 1, 20, 0},
		{"negative score", []float32{-1, -2, -3}, 0, 20, 0},
		{"NaN target", []float32{1, nan, 2}, 1, 20, 0},
		{"NaN elsewhere ranks below", []float32{nan, 1, 2}, 1, 20, 2},
		{"k greater items", []float32{5, 4, 3, 1}, 3, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			if got := rank(tc.scores, tc.target, tc.k, rng); got != tc.want {
				t.Errorf("got rank %d, want %d", got, tc.want)
			}
		})
	}
}

// TestRankTies checks that a target tied with others lands uniformly at
// each tied position, after the strictly greater items.
func TestRankTies(t *testing.T) {
	scores := []float32{9, 1, 1, 1, 1, 0.5} // target 2 ties with 3 others after one greater
	const seed, n = 7, 40000
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	counts := map[int]int{}
	for range n {
		counts[rank(scores, 2, 20, rng)]++
	}
	for r := 2; r <= 5; r++ {
		if got, want := float64(counts[r])/n, 0.25; math.Abs(got-want) > 0.015 {
			t.Errorf("rank %d: got share %.3f, want %.3f", r, got, want)
		}
	}
	if len(counts) != 4 {
		t.Errorf("got ranks %v, want only 2..5", counts)
	}
	// A tie straddling the cut-off: ranks 4 and 5 fall outside k = 3.
	rng = rand.New(rand.NewPCG(seed, 0))
	miss := 0
	for range n {
		if rank(scores, 2, 3, rng) == 0 {
			miss++
		}
	}
	if got, want := float64(miss)/n, 0.5; math.Abs(got-want) > 0.015 {
		t.Errorf("k=3: got miss share %.3f, want %.3f", got, want)
	}
}

func BenchmarkRank(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	scores := make([]float32, 40000)
	for i := range scores {
		scores[i] = rng.Float32()
	}
	scores[123] = 2 // the target ranks first: rank scans all scores
	for b.Loop() {
		rank(scores, 123, 20, rng)
	}
}
