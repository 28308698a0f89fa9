package dataset

import "io"

// yoochooseHeader is the first line of session-rec's prepared files.
const yoochooseHeader = "SessionId\tItemId\tTime"

// ParseYoochoose parses one of session-rec's prepared YOOCHOOSE files:
// a header line "SessionId\tItemId\tTime", then one click per line with the
// time in Unix seconds and an optional fraction ("1396860669.277").
//
// Every event is a [Click]; sessions have no user. Events are ordered by
// time within a session (stably, so equal times keep file order) and the
// sessions by their first event. A malformed line yields a *[ParseError]
// with its line number.
func ParseYoochoose(r io.Reader) ([]Session, error) {
	lr := newLineReader(r)
	if err := lr.header(yoochooseHeader); err != nil {
		return nil, err
	}
	b := newSessionBuilder()
	for {
		line, n, ok := lr.next()
		if !ok {
			break
		}
		f, err := fields(line, n, "\t", 3)
		if err != nil {
			return nil, err
		}
		if f[0] == "" || f[1] == "" {
			return nil, lineErr(n, "empty session or item id: %q", line)
		}
		t, err := parseUnixFraction(f[2])
		if err != nil {
			return nil, lineErr(n, "time: %w", err)
		}
		b.add(f[0], "", Event{Item: f[1], Time: t, Kind: Click})
	}
	if err := lr.err(); err != nil {
		return nil, err
	}
	return b.finish(), nil
}
