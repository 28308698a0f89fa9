package topics

import (
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind is the kind of an input event. The topic a record comes from sets it
// (see [Names.KindOf]); it is not a field of the JSON.
type Kind uint8

// The kinds of event. The zero Kind is no kind, and invalid.
const (
	// KindClick is a click (a view of an item), from the clicks topic.
	KindClick Kind = iota + 1
	// KindPurchase is a purchase, from the purchases topic.
	KindPurchase
	// KindErasure is not an event but a request to forget a user, from
	// the erasures topic ([Erasure]); the partition workers read it with
	// the events, in the same order.
	KindErasure
)

// String returns "click", "purchase", "erasure", or "kind(N)" for an
// invalid kind.
func (k Kind) String() string {
	switch k {
	case KindClick:
		return "click"
	case KindPurchase:
		return "purchase"
	case KindErasure:
		return "erasure"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MaxQuantity is the largest purchase quantity accepted: it fits in 32
// bits, so that every consumer, in any language, can hold it.
const MaxQuantity = math.MaxInt32

// Event is a click or a purchase: one type for both, told apart by Kind.
// On the wire it is one JSON object (see [DecodeEvent] for the schemas and
// the rules); the record key is the user id.
type Event struct {
	// Kind is KindClick or KindPurchase.
	Kind Kind
	// UserID is the user (the record key). Required: non-empty valid UTF-8
	// without control characters, at most [Limits.MaxIDLength] bytes.
	UserID string
	// ItemID is the item clicked or bought. Required, as UserID.
	ItemID string
	// EventID is the producer's id of the event, "" when it sent none. At
	// most [Limits.MaxIDLength] bytes, no control characters.
	EventID string
	// SessionID is the producer's session id, "" when it sent none. The
	// processor sessionizes by event time itself; this is kept for
	// tracing. Same rules as EventID.
	SessionID string
	// Time is when the event happened (event time, not arrival time), in
	// UTC with millisecond precision once decoded.
	Time time.Time
	// Quantity is the number of items bought: at least 1 (and at most
	// [MaxQuantity]) for a purchase, 0 for a click.
	Quantity int
	// Price is the unit price paid, in the shop's currency units (not
	// cents): finite and >= 0 for a purchase, where 0 means unknown; 0 for
	// a click.
	Price float64
}

// Validate returns nil when e is an event [DecodeEvent] would return with
// the same now and lim, and a *ValidationError saying what is wrong
// otherwise. now is the processor's clock, against which future times are
// judged; Validate never reads the system clock.
func (e Event) Validate(now time.Time, lim Limits) error {
	if err := e.check(); err != nil {
		return err
	}
	if err := e.checkLimits(now, lim.withDefaults()); err != nil {
		return err
	}
	return nil
}

// check checks what does not depend on Limits or a clock: what Encode
// needs to write an event that decodes back to itself.
func (e Event) check() *ValidationError {
	if e.Kind != KindClick && e.Kind != KindPurchase {
		return invalid("", ReasonInvalidField, "unknown event kind %d", uint8(e.Kind))
	}
	for _, f := range []struct {
		field, v string
		required bool
	}{
		{fieldUserID, e.UserID, true},
		{fieldItemID, e.ItemID, true},
		{fieldEventID, e.EventID, false},
		{fieldSessionID, e.SessionID, false},
	} {
		if err := checkID(f.field, f.v, f.required); err != nil {
			return err
		}
	}
	if e.Time.IsZero() {
		return invalid(fieldTS, ReasonMissingField, "no event time")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return invalid(fieldTS, ReasonTimestamp, "%s is outside the years 1 to 9999", e.Time.UTC().Format(time.RFC3339))
	}
	if e.Kind == KindClick {
		switch {
		case e.Quantity != 0:
			return invalid(fieldQuantity, ReasonInvalidField, "a click has no quantity, got %d", e.Quantity)
		case e.Price != 0:
			return invalid(fieldPrice, ReasonInvalidField, "a click has no price, got %v", e.Price)
		}
		return nil
	}
	if e.Quantity < 1 || e.Quantity > MaxQuantity {
		return invalid(fieldQuantity, ReasonInvalidField, "%d is not in 1 to %d", e.Quantity, MaxQuantity)
	}
	if math.IsNaN(e.Price) || math.IsInf(e.Price, 0) || e.Price < 0 {
		return invalid(fieldPrice, ReasonInvalidField, "%v is not a finite number >= 0", e.Price)
	}
	return nil
}

// checkLimits checks what depends on lim (with its defaults filled in) and
// on the clock.
func (e Event) checkLimits(now time.Time, lim Limits) *ValidationError {
	for _, f := range []struct{ field, v string }{
		{fieldUserID, e.UserID},
		{fieldItemID, e.ItemID},
		{fieldEventID, e.EventID},
		{fieldSessionID, e.SessionID},
	} {
		if len(f.v) > lim.MaxIDLength {
			return invalid(f.field, ReasonInvalidField, "%s is %d bytes long, more than %d", brief(f.v), len(f.v), lim.MaxIDLength)
		}
	}
	return checkTime(e.Time, now, lim)
}

// checkTime returns a ReasonTimestamp error when t is before lim.MinTime or
// more than lim.MaxFuture after now.
func checkTime(t, now time.Time, lim Limits) *ValidationError {
	switch {
	case t.Before(lim.MinTime):
		return invalid(fieldTS, ReasonTimestamp, "%s is before %s", formatTime(t), formatTime(lim.MinTime))
	case t.After(now.Add(lim.MaxFuture)):
		return invalid(fieldTS, ReasonTimestamp, "%s is more than %v after the processor's clock (%s)",
			formatTime(t), lim.MaxFuture, formatTime(now))
	}
	return nil
}

// checkID checks an id field's content: required ids are non-empty; every
// id is valid UTF-8 without control characters. Length is checked against
// Limits by checkLimits.
func checkID(field, v string, required bool) *ValidationError {
	if v == "" {
		if required {
			return invalid(field, ReasonInvalidField, "empty")
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return invalid(field, ReasonInvalidField, "%s is not valid UTF-8", brief(v))
	}
	for i, r := range v {
		if unicode.IsControl(r) {
			return invalid(field, ReasonInvalidField, "%s has the control character %U at byte %d", brief(v), r, i)
		}
	}
	return nil
}
