//go:build !race

// Training with several workers updates shared parameters without locks
// (Hogwild): a data race by design, which the race detector would rightly
// report. This file is therefore built only without -race; `make test` runs
// it in a separate pass without the detector.

package model

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHogwildTrainLearnsTopics(t *testing.T) {
	s, m := trainShop(t, 5, TrainConfig{Workers: 2})
	cat, err := NewCatalog(m, s.items, nil)
	require.NoError(t, err)
	var hits, total int
	for r := range int32(cat.Len()) {
		for _, h := range cat.index.Search(cat.Vector(r), 11, func(x int32) bool { return x != r }, nil) {
			total++
			if s.topicOf(s.items[h.Row].ID) == s.topicOf(s.items[r].ID) {
				hits++
			}
		}
	}
	share := float64(hits) / float64(total)
	t.Logf("two workers: share of same-topic neighbours %.3f, %d pairs", share, m.Info.Pairs)
	require.Greater(t, share, 0.9)
	require.Equal(t, 2, m.Info.Workers)
}

// TestHogwildTrainDiverges checks that the workers stop on a divergence
// that one of them sees, and that Train retries and fails as with one.
func TestHogwildTrainDiverges(t *testing.T) {
	s := newShop(1, 300)
	_, err := Train(s.corpus, TrainConfig{Epochs: 3, Workers: 2, Seed: 1, LearningRate: 1e30, NextItem: 1, NextItemOnly: true})
	require.ErrorIs(t, err, ErrDiverged)
	require.ErrorContains(t, err, "in epoch 1 of 3")
}
