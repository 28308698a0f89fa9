package store

// UserState is what the processor keeps of one user: the open session and
// the intents kept from earlier ones. Times are Unix milliseconds of event
// time.
type UserState struct {
	// SessionID names the open session; empty when no session is open.
	SessionID string
	// Events are the open session's events in event-time order.
	Events []Event
	// LastEventMs is the time of the latest event of the open session.
	LastEventMs int64
	// Past are the intents kept from the user's closed sessions, most recent
	// first.
	Past []PastIntent
	// PublishedSig is the signature of the intents of the last
	// recommendation published for the user; 0 when none was.
	PublishedSig uint64
	// Applied counts the input events applied to this user, ever.
	Applied uint64
	// Sessions counts the user's closed sessions.
	Sessions uint64
	// ClosedIDs are the event IDs of the newest events of the user's
	// closed sessions, oldest first: the dedup window that catches an
	// event sent again after its session closed (the sessionizer bounds
	// it by count and age).
	ClosedIDs []ClosedID
	// Exposures are the user's latest published recommendations, newest
	// first, for the attribution of the user's later events: the
	// processor keeps the latest alone, of at most MaxExposedItems items.
	Exposures []Exposure
}

// MaxExposedItems bounds the items of an Exposure.
const MaxExposedItems = 64

// Exposure is one published recommendation record of a user: its items,
// the event time it was published at (of the event that caused it), and
// the model version and A/B arm that made it.
type Exposure struct {
	AtMs    int64
	Version string
	Arm     string
	Items   []string
}

// ClosedID is the event ID of an event of a closed session, and its time.
type ClosedID struct {
	ID     string
	TimeMs int64
}

// Kind is the kind of an event.
type Kind uint8

// The kinds of events.
const (
	Click Kind = iota
	Purchase
)

// Event is one event of a session.
type Event struct {
	ItemID  string
	TimeMs  int64
	Kind    Kind
	EventID string // may be empty; used to apply a duplicate once
}

// PastIntent is an intent kept from a closed session.
type PastIntent struct {
	ID         string
	Items      []string
	Centroid   []float32
	Coherence  float32
	Weight     float32
	LastSeenMs int64
}

// Checkpoint is how far a partition's state has got: the next input offset
// of each topic (the first not yet applied) and the partition's watermark.
// It is written in the same batch as the state the offsets produced.
type Checkpoint struct {
	// Offsets maps an input topic to the next offset to read from it.
	Offsets map[string]int64
	// WatermarkMs is the partition's event-time watermark.
	WatermarkMs int64
	// Changelog is the offset of the partition's changelog (the consumer
	// group's "<group>-state" topic) from which a restore resumes: every
	// changelog record before it is in this store. 0 for a store that
	// holds no changelog position (a restore then starts from the
	// changelog's start).
	Changelog int64
}
