package topics

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// The reasons a record is rejected: the values of [ValidationError.Reason],
// of [DeadLetter.Reason], and of the reason label of the processor's
// rejected-records counter. They are a small fixed set so that a metrics
// label built from them stays low-cardinality; [Reasons] lists them all.
const (
	// ReasonMalformed: the value is not one JSON object (syntax error,
	// trailing data, not UTF-8, a duplicate field, an empty value).
	ReasonMalformed = "malformed"
	// ReasonMissingField: a required field is absent or null.
	ReasonMissingField = "missing_field"
	// ReasonUnknownField: the object has a field its schema does not
	// define (for instance "quantity" in a click).
	ReasonUnknownField = "unknown_field"
	// ReasonInvalidField: a field has the wrong JSON type or a value out of
	// its domain (empty or overlong id, quantity below 1, negative price).
	ReasonInvalidField = "invalid_field"
	// ReasonTooLarge: the record value is larger than
	// [Limits.MaxRecordBytes]; it was not parsed.
	ReasonTooLarge = "too_large"
	// ReasonTimestamp: the event time is absurd: before [Limits.MinTime]
	// or more than [Limits.MaxFuture] after the processor's clock.
	ReasonTimestamp = "timestamp"
	// ReasonLate: the event is valid but arrived after its session was
	// closed by the watermark. Set by the processor, not by this package.
	ReasonLate = "late"
	// ReasonUnknownItem: the event names an item the catalogue does not
	// have. Set by the processor, not by this package.
	ReasonUnknownItem = "unknown_item"
)

// Reasons returns every reason code, in a fixed order, for instance to
// create each label of a counter up front. The slice is the caller's.
func Reasons() []string {
	return []string{
		ReasonMalformed, ReasonMissingField, ReasonUnknownField, ReasonInvalidField,
		ReasonTooLarge, ReasonTimestamp, ReasonLate, ReasonUnknownItem,
	}
}

// ValidationError reports why an event was rejected. [DecodeEvent],
// [Event.Validate] and [Event.Encode] return it as a *ValidationError.
type ValidationError struct {
	// Field is the JSON name of the field at fault ("user_id", "ts"), or ""
	// when the fault is with the record as a whole (malformed JSON, too
	// large). For an unknown field it is the name as the producer wrote
	// it, quoted and cut to 40 bytes unless it is short printable ASCII:
	// unlike Reason, it is no metrics label.
	Field string
	// Reason is one of the Reason constants ([ReasonInvalidField]...):
	// a short code fit for a metrics label and a dead letter's reason.
	Reason string
	// Detail says what is wrong, for people. It quotes at most a short
	// prefix of the offending value.
	Detail string
}

// Error returns "topics: invalid FIELD: DETAIL", with "record" for FIELD
// when the fault is with the record as a whole.
func (e *ValidationError) Error() string {
	f := e.Field
	if f == "" {
		f = "record"
	}
	return "topics: invalid " + f + ": " + e.Detail
}

// ReasonOf returns the reason code of err: the Reason of the
// *ValidationError in its chain, or [ReasonMalformed] for any other
// non-nil error, and "" for nil.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	if ve, ok := errors.AsType[*ValidationError](err); ok {
		return ve.Reason
	}
	return ReasonMalformed
}

func invalid(field, reason, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// maxQuoted is how many bytes of an offending value an error quotes: the
// errors end up in dead letters, headers and logs, and must stay short
// whatever the input.
const maxQuoted = 40

// brief returns s quoted, cut to maxQuoted bytes (at a rune boundary)
// with "..." appended when it was longer.
func brief(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}
