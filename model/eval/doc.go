// Package eval runs the offline next-item evaluation of shared/BASELINES.md
// and holds the baseline methods it is checked with (POP, Item-KNN, SKNN).
//
// It is pure computation: sessions come in as item-id sequences, no files
// are read, and the only clock is the wall time measured for [Result].
//
// # Protocol
//
// [Evaluate] trains a [Method] on the train sessions. The item universe is
// the set of items seen in training, mapped to dense indices 0..n-1. For
// every test session and every prefix length i >= 1, the first i items are
// the input and item i+1 the target:
//
//   - a target unseen in training is skipped and counted ([Result.Skipped]);
//   - prefix items unseen in training are dropped from the input; a case
//     with no known input item is still evaluated and counted
//     ([Result.NoInput]);
//   - items already in the session are not excluded from the ranking.
//
// The method scores every training item, higher is better. The target's
// rank is 1 + the number of items with a strictly greater score + a
// uniformly random number of the items tied with it (ties are broken
// uniformly at random, by a generator seeded from [Config.Seed] and the
// case's index, so results do not depend on the number of workers). A
// target whose score is not positive is a miss: an all-zero score gets no
// credit. HR@K is the share of cases whose target ranks in the top K;
// MRR@K is the mean of 1/rank, 0 outside the top K.
//
// # Concurrency
//
// A [Method] is fitted once; then each worker goroutine asks it for its own
// [Scorer], which owns the scratch memory one prediction needs. Scorers
// share the fitted model read-only and are never shared between
// goroutines.
package eval
