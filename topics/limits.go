package topics

import "time"

// Default limits (see [Limits]).
const (
	// DefaultMaxRecordBytes is the default [Limits.MaxRecordBytes]: 64 KiB.
	DefaultMaxRecordBytes = 64 << 10
	// DefaultMaxIDLength is the default [Limits.MaxIDLength], in bytes.
	DefaultMaxIDLength = 256
	// DefaultMaxFuture is the default [Limits.MaxFuture]: 5 minutes, a
	// few times the clock skew of hosts kept by NTP, and short enough that
	// an event stamped in the future (a producer's clock ahead) cannot
	// carry a partition's watermark far enough to make the next minutes
	// of everyone else's events late.
	DefaultMaxFuture = 5 * time.Minute
)

// Limits bound what [DecodeEvent] and [Event.Validate] accept. The zero
// value of a field (or a negative one) means its default; Limits{} is the
// default limits.
type Limits struct {
	// MaxRecordBytes is the largest record value accepted, in bytes;
	// larger values are rejected with [ReasonTooLarge] before parsing.
	// 0 means [DefaultMaxRecordBytes] (64 KiB).
	MaxRecordBytes int
	// MaxIDLength is the longest user_id, item_id, event_id and session_id
	// accepted, in bytes (of UTF-8). 0 means [DefaultMaxIDLength] (256).
	MaxIDLength int
	// MaxFuture is how far after the caller's clock an event time may lie,
	// to allow for producers' clock skew. 0 means [DefaultMaxFuture] (5
	// minutes). The processor's clock is the wall clock when it reads the
	// record, so an event further ahead is a dead letter (reason
	// timestamp) and never moves a watermark.
	MaxFuture time.Duration
	// MinTime is the earliest event time accepted. The zero time means
	// 2000-01-01T00:00:00Z: an earlier time is taken for a bug (a zero, or
	// seconds sent as milliseconds), not for history.
	MinTime time.Time
}

// withDefaults returns l with every zero or negative field set to its
// default.
func (l Limits) withDefaults() Limits {
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxIDLength <= 0 {
		l.MaxIDLength = DefaultMaxIDLength
	}
	if l.MaxFuture <= 0 {
		l.MaxFuture = DefaultMaxFuture
	}
	if l.MinTime.IsZero() {
		l.MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return l
}
