package eval

// TrainSet is the training data as a [Method] sees it.
type TrainSet struct {
	// Sessions holds each training session's items as dense indices in
	// [0, NItems), in event order. The sessions are in time order: a later
	// session is a more recent one (by its last event).
	Sessions [][]int32
	// NItems is the size of the item universe.
	NItems int
	// IDs holds the item id of each dense index (len NItems).
	IDs []string
	// Purchase, when not nil, marks the purchase events of each session,
	// parallel to Sessions.
	Purchase [][]bool
}

// Method is a next-item recommender under evaluation.
//
// Evaluate calls Fit once, then NewScorer once per worker goroutine, and
// then Score on each scorer from its own goroutine only.
type Method interface {
	// Name returns a short display name such as "SKNN".
	Name() string
	// Fit learns from the training sessions. The method may keep
	// references into train; the caller does not modify it afterwards.
	Fit(train *TrainSet) error
	// NewScorer returns a scorer for the fitted model with its own
	// scratch memory. It is called only after a successful Fit.
	NewScorer() Scorer
}

// Scorer scores items for session prefixes. It is not safe for concurrent
// use; each goroutine uses its own.
type Scorer interface {
	// Score writes a score for every item into dst, overwriting all of
	// it (len(dst) is the NItems of the fit); higher is better, and a
	// score <= 0 means "not recommended". prefix is the session so far,
	// oldest first, with unknown items already dropped; it may be empty.
	// Score keeps neither slice.
	Score(prefix []int32, dst []float32)
}
