package dataset

import (
	"io"
	"strconv"
	"strings"
	"time"
)

// sequenceSpacing separates the synthetic start times of consecutive lines
// of a sequences file. A day leaves room for 86,400 one-second events per
// session, so that sessions never overlap and both start and end times
// follow line order.
const sequenceSpacing = 24 * time.Hour

// ParseSequences parses a file of bare item sequences, one session per line
// with comma-separated item ids and no header (DynamicRec's Diginetica
// file).
//
// Sessions keep line order; a session's ID is its 1-based line number and
// it has no user. The file has no times, so times are synthetic: the
// session on the line with 0-based index k starts k days after the Unix
// epoch and its events are one second apart. Callers should treat such a
// dataset as untimed ([Dataset.HasTime] false). An empty line or an empty
// item id yields a *[ParseError] with its line number.
func ParseSequences(r io.Reader) ([]Session, error) {
	lr := newLineReader(r)
	var sessions []Session
	for {
		line, n, ok := lr.next()
		if !ok {
			break
		}
		if line == "" {
			return nil, lineErr(n, "empty session")
		}
		items := strings.Split(line, ",")
		start := time.Unix(0, 0).UTC().Add(time.Duration(n-1) * sequenceSpacing)
		ev := make([]Event, len(items))
		for i, it := range items {
			if it == "" {
				return nil, lineErr(n, "empty item id at position %d: %q", i+1, line)
			}
			ev[i] = Event{Item: it, Time: start.Add(time.Duration(i) * time.Second), Kind: Click}
		}
		sessions = append(sessions, Session{ID: strconv.Itoa(n), Events: ev})
	}
	if err := lr.err(); err != nil {
		return nil, err
	}
	return sessions, nil
}
