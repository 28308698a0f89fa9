package dataset

// SplitTail splits sessions into train and test by position: the first
// n*(100-testPercent)/100 sessions (integer division, so the train side is
// rounded down) are train and the rest test. For a time split, pass sessions
// ordered by time, as the ParseXxx functions return them.
//
// testPercent outside [0, 100] is clamped. Both results alias sessions;
// their capacities are clipped so that appending to train does not
// overwrite test.
func SplitTail(sessions []Session, testPercent int) (train, test []Session) {
	testPercent = min(max(testPercent, 0), 100)
	n := len(sessions) * (100 - testPercent) / 100
	return sessions[:n:n], sessions[n:]
}
