package eval

import "math/rand/v2"

// rank returns the 1-based rank of target among scores, breaking ties
// uniformly at random with rng, or 0 when the target is a miss: its score
// is not positive (or NaN), or its rank is beyond k. rng is used only when
// the target is tied with other items and could still be in the top k.
func rank(scores []float32, target int32, k int, rng *rand.Rand) int {
	t := scores[target]
	if !(t > 0) {
		return 0
	}
	greater, tied := 0, 0
	for _, s := range scores {
		if s > t {
			greater++
			if greater >= k {
				return 0
			}
		} else if s == t {
			tied++
		}
	}
	r := 1 + greater
	if others := tied - 1; others > 0 {
		// The target is at a uniform position among the tied items.
		r += rng.IntN(others + 1)
	}
	if r > k {
		return 0
	}
	return r
}
