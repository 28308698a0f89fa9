package dataset

import (
	"strconv"
	"time"
)

// Kind is the type of an event. The zero Kind is [Click].
type Kind uint8

const (
	// Click is an item view; it also stands for a cart add in rees46,
	// which has no separate kind here.
	Click Kind = iota
	// Purchase is the purchase of an item.
	Purchase
)

// String returns "click" or "purchase", or "kind(N)" for an unknown value.
func (k Kind) String() string {
	switch k {
	case Click:
		return "click"
	case Purchase:
		return "purchase"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// Event is one user action on an item.
type Event struct {
	// Item is the item id as written in the source file.
	Item string
	// Time is when the event happened, in UTC. For sources without real
	// times (see [Dataset.HasTime]) it is synthetic and only its order
	// means something.
	Time time.Time
	// Kind says whether the event is a click or a purchase.
	Kind Kind
}

// Session is one browsing session.
type Session struct {
	// ID is the session id as written in the source file; for sources
	// without ids it is the 1-based line number.
	ID string
	// User is the user id, or "" for an anonymous session.
	User string
	// Events are ordered by Time; events with equal times keep their file
	// order.
	Events []Event
}

// Start returns the time of the first event, or the zero time if the
// session has no events.
func (s Session) Start() time.Time {
	if len(s.Events) == 0 {
		return time.Time{}
	}
	return s.Events[0].Time
}

// End returns the time of the last event, or the zero time if the session
// has no events.
func (s Session) End() time.Time {
	if len(s.Events) == 0 {
		return time.Time{}
	}
	return s.Events[len(s.Events)-1].Time
}

// Items returns the item ids of the events in order, one per event. The
// returned slice is newly allocated and owned by the caller.
func (s Session) Items() []string {
	items := make([]string, len(s.Events))
	for i, e := range s.Events {
		items[i] = e.Item
	}
	return items
}

// Item holds the catalogue features a source gives for an item. Empty
// strings mean unknown.
type Item struct {
	// ID is the item id, the key in [Dataset.Items].
	ID string
	// Name is the item's name; none of the current sources has one.
	Name string
	// Category is a category id or a dotted category path
	// (e.g. "electronics.smartphone").
	Category string
	// Brand is the brand name.
	Brand string
	// Price is the price in the source's currency units; 0 means unknown.
	Price float64
}

// Dataset is a parsed dataset with its train/test split.
type Dataset struct {
	// Name is the name it was loaded under (see [Names]).
	Name string
	// Train and Test are the sessions of each side of the split, each in
	// order of their first event (file order for sources without times).
	// Test is empty when a dataset has no split.
	Train, Test []Session
	// Items maps item id to the catalogue features known for it. It is
	// never nil, and empty when the source has no features.
	Items map[string]Item
	// HasTime is false when events carry only their order, not real
	// times.
	HasTime bool
}
