package eval_test

import (
	"testing"

	"github.com/sessionrec/sessionrec/model/eval"
)

func TestPop(t *testing.T) {
	sessions := [][]int32{{0, 1, 0}, {1, 2}, {0}}
	for _, prefix := range [][]int32{nil, {2}, {0, 1}} {
		got := scoreOf(t, eval.NewPop(), 4, sessions, prefix)
		requireScores(t, got, []float64{3, 2, 1, 0})
	}
}
