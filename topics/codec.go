package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The JSON field names of the events. They are the [ValidationError.Field]
// values too.
const (
	fieldUserID    = "user_id"
	fieldItemID    = "item_id"
	fieldTS        = "ts"
	fieldEventID   = "event_id"
	fieldSessionID = "session_id"
	fieldQuantity  = "quantity"
	fieldPrice     = "price"
)

// timeLayout is how Encode writes ts: RFC 3339 in UTC with exactly three
// fractional digits, e.g. "2026-03-01T12:00:00.250Z".
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// DecodeEvent decodes and validates the value of one record of the clicks
// (kind [KindClick]) or purchases (kind [KindPurchase]) topic.
//
// The schemas, one JSON object per record value, keyed by user id:
//
//	click:    {"user_id": "u1", "item_id": "i9", "ts": "2026-03-01T12:00:00.250Z",
//	           "event_id": "e1", "session_id": "s1"}
//	purchase: {"user_id": "u1", "item_id": "i9", "ts": 1772366400250,
//	           "quantity": 2, "price": 19.99, "event_id": "e2", "session_id": "s1"}
//
// The fields:
//
//   - user_id, item_id: required strings (a number is rejected), non-empty,
//     at most lim.MaxIDLength bytes, no control characters.
//   - ts: the event time, either an RFC 3339 string (any offset, any
//     fraction) or an integer number of milliseconds since the Unix epoch
//     (no fraction, no exponent). Absent or null: recordTime, the Kafka
//     record's timestamp, is used. Kept to the millisecond, in UTC. It must
//     lie between lim.MinTime (2000-01-01) and lim.MaxFuture (5 minutes) after
//     now, the caller's clock (DecodeEvent never reads the system clock).
//   - event_id, session_id: optional strings, at most lim.MaxIDLength
//     bytes, no control characters.
//   - quantity (purchases only): an integer from 1 to [MaxQuantity];
//     absent or null means 1.
//   - price (purchases only): the unit price, a finite number >= 0; absent
//     or null means 0, unknown.
//
// An optional field that is null is taken as absent; a required one that
// is null is missing. Decoding is strict: the value must be valid UTF-8
// and hold exactly one JSON object, with no field twice, no field outside
// its kind's schema (names match exactly, case included) and nothing after
// it but white space. A value longer than lim.MaxRecordBytes is rejected
// before it is parsed.
//
// Every error is a *ValidationError whose Reason says why, for the
// dead-letter topic and the metrics. value is not retained: the strings
// of the Event are copies.
func DecodeEvent(kind Kind, value []byte, recordTime time.Time, now time.Time, lim Limits) (Event, error) {
	lim = lim.withDefaults()
	if kind != KindClick && kind != KindPurchase {
		return Event{}, invalid("", ReasonInvalidField, "unknown event kind %d", uint8(kind))
	}
	if len(value) > lim.MaxRecordBytes {
		return Event{}, invalid("", ReasonTooLarge, "the value is %d bytes long, more than %d", len(value), lim.MaxRecordBytes)
	}
	if len(bytes.TrimSpace(value)) == 0 {
		return Event{}, invalid("", ReasonMalformed, "empty value, want a JSON object")
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(value) {
		return Event{}, invalid("", ReasonMalformed, "the value is not valid UTF-8")
	}
	fields, err := objectFields(value)
	if err != nil {
		return Event{}, err
	}

	e := Event{Kind: kind}
	var ts, quantity, price json.RawMessage
	hasUser, hasItem := false, false // the required fields, present and not null
	for _, f := range fields {
		name, raw := f.name, f.raw
		switch name {
		case fieldUserID:
			err = decodeString(name, raw, &e.UserID)
			hasUser = !isNull(raw)
		case fieldItemID:
			err = decodeString(name, raw, &e.ItemID)
			hasItem = !isNull(raw)
		case fieldEventID:
			err = decodeString(name, raw, &e.EventID)
		case fieldSessionID:
			err = decodeString(name, raw, &e.SessionID)
		case fieldTS:
			ts = raw
		case fieldQuantity, fieldPrice:
			if kind != KindPurchase {
				return Event{}, invalid(name, ReasonUnknownField, "a %s has no field %q", kind, name)
			}
			if name == fieldQuantity {
				quantity = raw
			} else {
				price = raw
			}
		default:
			return Event{}, invalid(safeName(name), ReasonUnknownField, "a %s has no field %s", kind, brief(name))
		}
		if err != nil {
			return Event{}, err
		}
	}
	switch {
	case !hasUser:
		return Event{}, invalid(fieldUserID, ReasonMissingField, "required")
	case !hasItem:
		return Event{}, invalid(fieldItemID, ReasonMissingField, "required")
	}

	if e.Time, err = decodeTime(ts, recordTime); err != nil {
		return Event{}, err
	}
	if kind == KindPurchase {
		if e.Quantity, err = decodeQuantity(quantity); err != nil {
			return Event{}, err
		}
		if e.Price, err = decodePrice(price); err != nil {
			return Event{}, err
		}
	}
	if err := e.check(); err != nil {
		return Event{}, err
	}
	if err := e.checkLimits(now, lim); err != nil {
		return Event{}, err
	}
	return e, nil
}

// safeName returns a field name fit for ValidationError.Field, which ends
// up in logs and error text: the name itself when it is short printable
// ASCII, else its quoted, cut form (see brief).
func safeName(name string) string {
	if len(name) > maxQuoted {
		return brief(name)
	}
	for i := range len(name) {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return brief(name)
		}
	}
	return name
}

// rawField is one field of a JSON object, its value not yet decoded.
type rawField struct {
	name string
	raw  json.RawMessage
}

// objectFields splits value, which must be exactly one JSON object, into
// its fields, in the order they are written (so that, of several faults,
// the first is reported, the same every time). It is the strictness of
// DecodeEvent: a duplicate field and trailing data are errors
// (encoding/json keeps the last of duplicates and, in a Decoder, stops
// after the first value), and names are kept as written, to be matched
// exactly (encoding/json matches them case-insensitively). The raw values
// alias value.
func objectFields(value []byte) ([]rawField, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	malformed := func(err error) error {
		return invalid("", ReasonMalformed, "%v", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid("", ReasonMalformed, "a %s, want a JSON object", jsonKind(tok))
	}
	var fields []rawField
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed(err)
		}
		name, ok := tok.(string)
		if !ok { // json.Decoder returns a syntax error first; kept for safety
			return nil, invalid("", ReasonMalformed, "a field name that is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(err)
		}
		if seen[name] {
			return nil, invalid("", ReasonMalformed, "the field %s appears more than once", brief(name))
		}
		seen[name] = true
		fields = append(fields, rawField{name, raw})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, malformed(err)
	}
	switch _, err := dec.Token(); {
	case errors.Is(err, io.EOF):
		return fields, nil
	case err != nil:
		return nil, invalid("", ReasonMalformed, "trailing data after the object: %v", err)
	default:
		return nil, invalid("", ReasonMalformed, "trailing data after the object")
	}
}

// jsonKind names the JSON type of a token from json.Decoder.Token.
func jsonKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "JSON array"
		}
		return "JSON " + v.String()
	case string:
		return "JSON string"
	case float64, json.Number:
		return "JSON number"
	case bool:
		return "JSON boolean"
	case nil:
		return "JSON null"
	}
	return "JSON value"
}

// rawKind names the JSON type of a raw value by its first byte.
func rawKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// briefNumber returns a JSON number literal as written, cut like brief.
func briefNumber(raw json.RawMessage) string {
	if len(raw) > maxQuoted {
		return string(raw[:maxQuoted]) + "..."
	}
	return string(raw)
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// decodeString sets *dst from a JSON string; null leaves it "".
func decodeString(field string, raw json.RawMessage, dst *string) error {
	if isNull(raw) {
		return nil
	}
	if raw[0] != '"' {
		return invalid(field, ReasonInvalidField, "%s, want a string", rawKind(raw))
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return invalid(field, ReasonMalformed, "%v", err)
	}
	return nil
}

// decodeTime returns the event time from ts (an RFC 3339 string or
// integer epoch milliseconds), or recordTime when ts is absent or null,
// in UTC and cut to the millisecond.
func decodeTime(raw json.RawMessage, recordTime time.Time) (time.Time, error) {
	if raw == nil || isNull(raw) {
		if recordTime.IsZero() {
			return time.Time{}, invalid(fieldTS, ReasonMissingField, "absent, and the record has no timestamp")
		}
		return recordTime.UTC().Truncate(time.Millisecond), nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, invalid(fieldTS, ReasonMalformed, "%v", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, invalid(fieldTS, ReasonInvalidField, "%s is not an RFC 3339 time (want e.g. \"2026-03-01T12:00:00.250Z\")", brief(s))
		}
		return t.UTC().Truncate(time.Millisecond), nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		ms, err := strconv.ParseInt(string(raw), 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange), err == nil && (ms < 0 || ms > maxUnixMilli):
			return time.Time{}, invalid(fieldTS, ReasonTimestamp, "%s milliseconds is outside the years 1970 to 9999", briefNumber(raw))
		case err != nil:
			return time.Time{}, invalid(fieldTS, ReasonInvalidField, "%s is not a whole number of milliseconds", briefNumber(raw))
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, invalid(fieldTS, ReasonInvalidField, "%s, want an RFC 3339 string or epoch milliseconds", rawKind(raw))
}

// maxUnixMilli is 9999-12-31T23:59:59.999Z in Unix milliseconds: the last
// instant RFC 3339 can write.
const maxUnixMilli = 253402300799999

// decodeQuantity returns a purchase's quantity: 1 when absent or null.
func decodeQuantity(raw json.RawMessage) (int, error) {
	if raw == nil || isNull(raw) {
		return 1, nil
	}
	if rawKind(raw) != "a number" {
		return 0, invalid(fieldQuantity, ReasonInvalidField, "%s, want an integer", rawKind(raw))
	}
	q, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, invalid(fieldQuantity, ReasonInvalidField, "%s is not an integer", briefNumber(raw))
	}
	if err != nil || q < 1 || q > MaxQuantity {
		return 0, invalid(fieldQuantity, ReasonInvalidField, "%s is not in 1 to %d", briefNumber(raw), MaxQuantity)
	}
	return int(q), nil
}

// decodePrice returns a purchase's unit price: 0 (unknown) when absent or
// null.
func decodePrice(raw json.RawMessage) (float64, error) {
	if raw == nil || isNull(raw) {
		return 0, nil
	}
	if rawKind(raw) != "a number" {
		return 0, invalid(fieldPrice, ReasonInvalidField, "%s, want a number", rawKind(raw))
	}
	p, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(p, 0) || p < 0 {
		return 0, invalid(fieldPrice, ReasonInvalidField, "%s is not a finite number >= 0", briefNumber(raw))
	}
	return p + 0, nil // -0 becomes 0
}

// wireEvent is the canonical JSON form Encode writes, fields in schema
// order.
type wireEvent struct {
	UserID    string   `json:"user_id"`
	ItemID    string   `json:"item_id"`
	TS        string   `json:"ts"`
	Quantity  *int     `json:"quantity,omitempty"`
	Price     *float64 `json:"price,omitempty"`
	EventID   string   `json:"event_id,omitempty"`
	SessionID string   `json:"session_id,omitempty"`
}

// Encode returns the canonical JSON of e, the value of its record on the
// clicks or purchases topic: fields in the order user_id, item_id, ts,
// quantity and price (purchases only, always written), event_id and
// session_id (when not empty); ts as an RFC 3339 string in UTC with
// milliseconds ("2026-03-01T12:00:00.250Z"), so a finer Time is cut to the
// millisecond. No HTML escaping, no trailing newline.
//
// Encode checks what makes the JSON decodable (kind, ids, quantity, price,
// a non-zero time), returning a *ValidationError otherwise; it does not
// apply Limits or a clock: [Event.Validate] does. Decoding the result with
// [DecodeEvent] gives e back (with Time cut to the millisecond and in
// UTC) whenever e is valid under the limits and clock of the decoder.
func (e Event) Encode() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	w := wireEvent{
		UserID:    e.UserID,
		ItemID:    e.ItemID,
		TS:        formatTime(e.Time),
		EventID:   e.EventID,
		SessionID: e.SessionID,
	}
	if e.Kind == KindPurchase {
		w.Quantity, w.Price = &e.Quantity, &e.Price
	}
	b, err := marshal(w)
	if err != nil {
		// Unreachable: check rejected every value json cannot write.
		return nil, invalid("", ReasonInvalidField, "%v", err)
	}
	return b, nil
}
