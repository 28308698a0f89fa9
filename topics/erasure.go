package topics

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"
)

// Erasure is a request to forget a user: the value of a record on the
// erasures topic, whose key is the user id (so that it reaches the
// partition that holds the user, like the user's events).
//
//	{"user_id": "u42", "requested_at": "2026-03-01T12:00:00.25Z"}
//
// The processor that owns the user deletes the user's state in its store,
// writes a tombstone for the user to its changelog and to the
// recommendations topic, and from then on answers 404 for the user; later
// events of the user start from nothing.
type Erasure struct {
	// UserID is the user to forget: the record key.
	UserID string `json:"user_id"`
	// RequestedAt is when the request was made, for the audit trail;
	// optional.
	RequestedAt time.Time `json:"requested_at,omitzero"`
}

// Encode returns the record value of e.
func (e Erasure) Encode() ([]byte, error) { return json.Marshal(e) }

// DecodeErasure decodes and validates a record of the erasures topic. The
// key is the user to forget: non-empty valid UTF-8 without control
// characters, at most lim.MaxIDLength bytes. The value is an Erasure's
// JSON, whose user_id must be the key; an empty value asks for the key's
// user alone. Decoding is as strict as DecodeEvent's (one JSON object, no
// unknown or duplicate field). Every error is a *ValidationError, whose
// Reason is the dead letter's.
func DecodeErasure(key, value []byte, lim Limits) (Erasure, error) {
	lim = lim.withDefaults()
	user := string(key)
	if err := checkID(fieldUserID, user, true); err != nil {
		err.Detail = "the record key: " + err.Detail
		return Erasure{}, err
	}
	if len(user) > lim.MaxIDLength {
		return Erasure{}, invalid(fieldUserID, ReasonTooLarge, "the record key is %d bytes long, more than %d", len(user), lim.MaxIDLength)
	}
	e := Erasure{UserID: user}
	if len(bytes.TrimSpace(value)) == 0 {
		return e, nil
	}
	if len(value) > lim.MaxRecordBytes {
		return Erasure{}, invalid("", ReasonTooLarge, "the value is %d bytes long, more than %d", len(value), lim.MaxRecordBytes)
	}
	if !utf8.Valid(value) {
		return Erasure{}, invalid("", ReasonMalformed, "the value is not valid UTF-8")
	}
	fields, err := objectFields(value)
	if err != nil {
		return Erasure{}, err
	}
	var said string
	for _, f := range fields {
		switch f.name {
		case fieldUserID:
			err = decodeString(f.name, f.raw, &said)
		case "requested_at":
			if !isNull(f.raw) {
				e.RequestedAt, err = decodeTime(f.raw, time.Time{})
				if ve, ok := errors.AsType[*ValidationError](err); ok {
					ve.Field = "requested_at" // decodeTime names the events' ts
				}
			}
		default:
			return Erasure{}, invalid(safeName(f.name), ReasonUnknownField, "an erasure has no field %s", brief(f.name))
		}
		if err != nil {
			return Erasure{}, err
		}
	}
	if said != "" && said != user {
		return Erasure{}, invalid(fieldUserID, ReasonInvalidField, "user_id %s differs from the record key %s", brief(said), brief(user))
	}
	return e, nil
}
