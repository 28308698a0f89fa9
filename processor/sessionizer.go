package processor

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/sessionrec/sessionrec/store"
)

// Sessionizer places a user's events into sessions by event time: a session
// is a run of events less than Gap apart. It holds no state; its methods are
// pure functions of a user's state, an event and the partition watermark, so
// the stream processor and the batch trainer split sessions the same way.
//
// A user's state keeps the events of every session not yet closed, in
// event-time order; sessions are the runs between gaps of Gap or more, so an
// event that arrives late (within Grace) and lands in a gap merges the two
// sessions around it, as Kafka Streams' session windows do. The watermark
// is the partition's highest event time minus Grace: an event older than it
// is late, and a session whose last event is Gap or more before it can grow
// no more and is closed.
type Sessionizer struct {
	// Gap ends a session: events Gap or more apart are in different
	// sessions. Default 20 minutes.
	Gap time.Duration
	// Grace is how late an event may arrive and still be placed. Default 1
	// minute.
	Grace time.Duration
	// KeepIntents is how many intents of closed sessions a user keeps,
	// newest first, for the next sessions' recommendations. Default 5;
	// negative keeps none.
	KeepIntents int
	// MaxEvents bounds the open events a user keeps, so that a bot, or a
	// key shared by many people, that never pauses for Gap cannot grow
	// its state and the cost of its events without end: an event that
	// finds MaxEvents open (see Full) first closes them, as sessions
	// whose intents go to the user's past like any other's, and starts a
	// new session. Default 500, ten times the longest session training
	// learns from (model.TrainConfig.MaxEvents); negative: no bound.
	MaxEvents int
	// DedupIDs and DedupAge bound the dedup window of closed sessions: a
	// user keeps the event IDs of the newest DedupIDs events of its closed
	// sessions (default 100), none more than DedupAge of event time
	// (default 1 hour) before the newest of them, and an event whose ID is
	// among them, or among the open events', is a Duplicate. (An event
	// sent again with its own ts is late once its session has closed; the
	// window is for events without one, whose time is the record's.)
	// Negative DedupIDs keeps none.
	DedupIDs int
	DedupAge time.Duration
}

// Outcome says what Apply did with an event.
type Outcome uint8

// The outcomes of Apply.
const (
	// Applied: the event is in the state.
	Applied Outcome = iota
	// Duplicate: an open event already has its event ID; nothing changed.
	Duplicate
	// Late: the event is older than the watermark; nothing changed.
	Late
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

func (z *Sessionizer) fill() {
	if z.Gap == 0 {
		z.Gap = 20 * time.Minute
	}
	if z.Grace == 0 {
		z.Grace = time.Minute
	}
	if z.KeepIntents == 0 {
		z.KeepIntents = 5
	}
	if z.MaxEvents == 0 {
		z.MaxEvents = DefaultMaxSessionEvents
	}
	if z.DedupIDs == 0 {
		z.DedupIDs = 100
	}
	if z.DedupAge == 0 {
		z.DedupAge = time.Hour
	}
}

// DefaultMaxSessionEvents is the default Sessionizer.MaxEvents.
const DefaultMaxSessionEvents = 500

// Full reports whether s holds MaxEvents open events: the caller closes
// them (Cut) before it applies the next event, which starts a new
// session.
func (z Sessionizer) Full(s *store.UserState) bool {
	z.fill()
	return z.MaxEvents > 0 && len(s.Events) >= z.MaxEvents
}

// Cut closes every open session of s, whatever the watermark, and returns
// their events as Expire does.
func (z Sessionizer) Cut(s *store.UserState, userID string) [][]store.Event {
	return z.Expire(s, userID, math.MaxInt64)
}

// Place is the apply step of the stream processor and of the training
// replay both: it cuts a Full state's sessions (returning them, for the
// caller to keep as closed sessions) and then applies e under the
// watermark.
func (z Sessionizer) Place(s *store.UserState, userID string, e store.Event, watermarkMs int64) (cut [][]store.Event, o Outcome) {
	if z.Full(s) {
		cut = z.Cut(s, userID)
	}
	return cut, z.Apply(s, userID, e, watermarkMs)
}

// Watermark returns the watermark for a highest event time seen.
func (z Sessionizer) Watermark(maxEventMs int64) int64 {
	z.fill()
	return maxEventMs - z.Grace.Milliseconds()
}

// Apply places e in s unless it is late (older than watermarkMs) or a
// duplicate (its non-empty EventID is already among the open events or in
// the dedup window of closed ones, see DedupIDs). It does not close a Full
// state's sessions: the caller cuts them first, so that it sees them. Events
// of equal time keep their arrival order. Apply updates s.LastEventMs,
// s.SessionID and s.Applied.
func (z Sessionizer) Apply(s *store.UserState, userID string, e store.Event, watermarkMs int64) Outcome {
	z.fill()
	if e.TimeMs < watermarkMs {
		return Late
	}
	if e.EventID != "" && (slices.ContainsFunc(s.Events, func(x store.Event) bool { return x.EventID == e.EventID }) ||
		slices.ContainsFunc(s.ClosedIDs, func(x store.ClosedID) bool { return x.ID == e.EventID })) {
		return Duplicate
	}
	i, _ := slices.BinarySearchFunc(s.Events, e.TimeMs, func(x store.Event, t int64) int {
		if x.TimeMs <= t {
			return -1 // equal times: after the ones already there
		}
		return 1
	})
	s.Events = slices.Insert(s.Events, i, e)
	s.Applied++
	z.label(s, userID)
	return Applied
}

// label sets the session ID and last event time from the current session.
func (z Sessionizer) label(s *store.UserState, userID string) {
	cur := z.Current(s)
	if len(cur) == 0 {
		s.SessionID, s.LastEventMs = "", 0
		return
	}
	s.SessionID = userID + "-" + strconv.FormatInt(cur[0].TimeMs, 10)
	s.LastEventMs = cur[len(cur)-1].TimeMs
}

// sessions returns the start index of each open session in s.Events.
func (z Sessionizer) sessions(events []store.Event) []int {
	if len(events) == 0 {
		return nil
	}
	starts := []int{0}
	gap := z.Gap.Milliseconds()
	for i := 1; i < len(events); i++ {
		if events[i].TimeMs-events[i-1].TimeMs >= gap {
			starts = append(starts, i)
		}
	}
	return starts
}

// Current returns the events of the user's latest open session: the one
// recommendations are made for. The slice aliases s.Events.
func (z Sessionizer) Current(s *store.UserState) []store.Event {
	z.fill()
	gap := z.Gap.Milliseconds()
	i := len(s.Events) - 1
	for i > 0 && s.Events[i].TimeMs-s.Events[i-1].TimeMs < gap {
		i--
	}
	if i < 0 {
		return nil
	}
	return s.Events[i:]
}

// Expire removes from s the open sessions that are closed at watermarkMs
// (their last event is Gap or more before it) and returns their events,
// oldest session first. The returned slices do not alias s.
func (z Sessionizer) Expire(s *store.UserState, userID string, watermarkMs int64) [][]store.Event {
	z.fill()
	starts := z.sessions(s.Events)
	var closed [][]store.Event
	cut := 0
	for k, st := range starts {
		end := len(s.Events)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		if s.Events[end-1].TimeMs+z.Gap.Milliseconds() > watermarkMs {
			break
		}
		closed = append(closed, slices.Clone(s.Events[st:end]))
		cut = end
	}
	if cut > 0 {
		z.remember(s, s.Events[:cut])
		s.Events = slices.Delete(s.Events, 0, cut)
		s.Sessions += uint64(len(closed))
		z.label(s, userID)
	}
	return closed
}

// remember adds the event IDs of closed events to the user's dedup window
// and trims it to DedupIDs entries within DedupAge of the newest.
func (z Sessionizer) remember(s *store.UserState, closed []store.Event) {
	if z.DedupIDs < 0 {
		s.ClosedIDs = nil
		return
	}
	for _, e := range closed {
		if e.EventID != "" {
			s.ClosedIDs = append(s.ClosedIDs, store.ClosedID{ID: e.EventID, TimeMs: e.TimeMs})
		}
	}
	if len(s.ClosedIDs) == 0 {
		return
	}
	newest := s.ClosedIDs[0].TimeMs
	for _, c := range s.ClosedIDs {
		newest = max(newest, c.TimeMs)
	}
	oldest := newest - z.DedupAge.Milliseconds()
	s.ClosedIDs = slices.DeleteFunc(s.ClosedIDs, func(c store.ClosedID) bool { return c.TimeMs < oldest })
	if n := len(s.ClosedIDs) - z.DedupIDs; n > 0 {
		s.ClosedIDs = slices.Delete(s.ClosedIDs, 0, n)
	}
	if len(s.ClosedIDs) == 0 {
		s.ClosedIDs = nil
	}
}

// ExpiryMs returns the event time at which the oldest open session of s
// closes, or 0 when s has none.
func (z Sessionizer) ExpiryMs(s *store.UserState) int64 {
	z.fill()
	if len(s.Events) == 0 {
		return 0
	}
	gap := z.Gap.Milliseconds()
	end := 1 // one past the oldest session's last event
	for end < len(s.Events) && s.Events[end].TimeMs-s.Events[end-1].TimeMs < gap {
		end++
	}
	return s.Events[end-1].TimeMs + gap
}
