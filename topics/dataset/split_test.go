package dataset_test

import (
	"strconv"
	"testing"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

func TestSplitTail(t *testing.T) {
	tests := []struct {
		n, percent          int
		wantTrain, wantTest int
	}{
		{70756, 10, 63680, 7076},
		{63680, 10, 57312, 6368},
		{240, 10, 216, 24},
		{9, 10, 8, 1},
		{0, 10, 0, 0},
		{5, 0, 5, 0},
		{5, 100, 0, 5},
		{5, 150, 0, 5},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.n)+"/"+strconv.Itoa(tc.percent), func(t *testing.T) {
			train, test := dataset.SplitTail(make([]dataset.Session, tc.n), tc.percent)
			if len(train) != tc.wantTrain || len(test) != tc.wantTest {
				t.Errorf("got %d/%d, want %d/%d", len(train), len(test), tc.wantTrain, tc.wantTest)
			}
			if cap(train) != len(train) {
				t.Errorf("got train capacity %d, want %d", cap(train), len(train))
			}
		})
	}
}
