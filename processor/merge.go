package processor

import "time"

// earliest is the merge of a partition's clicks and purchases, for the
// workers (worker.take) and the training replay (nextReplayInput) both: it
// returns the index of the input whose head record comes next, the one
// with the earliest record timestamp (which producers set to the event
// time), and on equal times the first input (clicks before purchases); -1
// when no input has a head. head returns an input's head record time and
// whether it has one. Kafka Streams merges a task's partitions the same
// way. Which inputs may be merged yet (every input has a head, or is known
// to have nothing more for now) is the caller's to say.
func earliest(n int, head func(i int) (time.Time, bool)) int {
	pick := -1
	var at time.Time
	for i := range n {
		if t, ok := head(i); ok && (pick < 0 || t.Before(at)) {
			pick, at = i, t
		}
	}
	return pick
}
