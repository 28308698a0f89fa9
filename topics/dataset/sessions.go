package dataset

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sessionBuilder groups events into sessions by session id, keeping the
// sessions in order of first appearance until finish sorts them.
type sessionBuilder struct {
	index    map[string]int
	sessions []Session
}

func newSessionBuilder() *sessionBuilder {
	return &sessionBuilder{index: make(map[string]int)}
}

// add appends e to the session id, creating it with user on first sight.
// A later non-empty user fills in an anonymous session's user.
func (b *sessionBuilder) add(id, user string, e Event) {
	i, ok := b.index[id]
	if !ok {
		i = len(b.sessions)
		b.index[id] = i
		b.sessions = append(b.sessions, Session{ID: id, User: user})
	}
	s := &b.sessions[i]
	if s.User == "" {
		s.User = user
	}
	s.Events = append(s.Events, e)
}

// finish orders the events of every session by time and the sessions by
// their first event, both stably, and returns the sessions. The builder
// must not be used afterwards.
func (b *sessionBuilder) finish() []Session {
	for i := range b.sessions {
		sortEvents(b.sessions[i].Events)
	}
	sortSessions(b.sessions)
	return b.sessions
}

// sortEvents orders events by time, keeping the input order of equal times.
func sortEvents(ev []Event) {
	slices.SortStableFunc(ev, func(a, b Event) int { return a.Time.Compare(b.Time) })
}

// sortSessions orders sessions by their first event, keeping the input
// order of equal start times.
func sortSessions(ss []Session) {
	slices.SortStableFunc(ss, func(a, b Session) int { return a.Start().Compare(b.Start()) })
}

// parseUnixFraction parses Unix seconds with an optional decimal fraction
// ("1396860669.277") exactly, without going through float64.
func parseUnixFraction(s string) (time.Time, error) {
	sec, frac, hasFrac := strings.Cut(s, ".")
	secs, err := strconv.ParseUint(sec, 10, 63)
	if err != nil {
		return time.Time{}, fmt.Errorf("unix seconds %q: %w", s, err)
	}
	var nsec uint64
	if hasFrac {
		if frac == "" || len(frac) > 9 {
			return time.Time{}, fmt.Errorf("unix seconds %q: want 1 to 9 fraction digits", s)
		}
		if nsec, err = strconv.ParseUint(frac, 10, 32); err != nil {
			return time.Time{}, fmt.Errorf("unix seconds %q: %w", s, err)
		}
		for range 9 - len(frac) {
			nsec *= 10
		}
	}
	return time.Unix(int64(secs), int64(nsec)).UTC(), nil
}
