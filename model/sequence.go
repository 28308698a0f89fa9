package model

import (
	"cmp"
	"slices"
)

// Sequential rules: which items the training sessions went on to right
// after an item. For every ordered pair of items of a session of the
// SessionLog at most sequenceWindow steps apart, the later one gets 1/gap
// from the earlier; each item keeps its sequenceKeep best followers, their
// weights over the best's. A ranking raises the followers of the session's
// latest item by RankOptions.Sequence times their weight: the
// neighbourhood term looks at whole sessions like this one, this at what
// comes next.
const (
	sequenceWindow = 10
	sequenceKeep   = 100
)

// follower is an item (a SessionLog index) that follows another, with its
// weight in (0, 1].
type follower struct {
	item int32
	w    float32
}

// newSequence counts the followers of every item of the sessions.
func newSequence(sessions [][]int32, nItems int) [][]follower {
	counts := make([]map[int32]float32, nItems)
	for _, s := range sessions {
		for i, a := range s {
			for j := i + 1; j < len(s) && j <= i+sequenceWindow; j++ {
				b := s[j]
				if b == a {
					continue
				}
				if counts[a] == nil {
					counts[a] = map[int32]float32{}
				}
				counts[a][b] += 1 / float32(j-i)
			}
		}
	}
	out := make([][]follower, nItems)
	for a, m := range counts {
		if len(m) == 0 {
			continue
		}
		fs := make([]follower, 0, len(m))
		for b, w := range m {
			fs = append(fs, follower{item: b, w: w})
		}
		slices.SortFunc(fs, func(x, y follower) int { return cmp.Or(cmp.Compare(y.w, x.w), cmp.Compare(x.item, y.item)) })
		fs = fs[:min(len(fs), sequenceKeep)]
		top := fs[0].w
		for i := range fs {
			fs[i].w /= top
		}
		out[a] = slices.Clip(fs)
	}
	return out
}

// sequenceRows returns the rows of the followers of the session's latest
// item (o.Recent's last) that the catalogue holds; nil when
// RankOptions.Sequence is 0 or the model has no SessionLog. The caller
// holds c.mu.
func (c *Catalog) sequenceRows(o RankOptions) []rowWeight {
	if !(o.Sequence > 0) || len(o.Recent) == 0 || c.seq == nil {
		return nil
	}
	x, ok := c.nbIndex[o.Recent[len(o.Recent)-1]]
	if !ok {
		return nil
	}
	fs := c.seq[x]
	out := make([]rowWeight, 0, len(fs))
	for _, f := range fs {
		if r := c.nbRow[f.item]; r >= 0 {
			out = append(out, rowWeight{row: r, w: f.w})
		}
	}
	return out
}
