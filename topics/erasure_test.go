package topics

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeErasure(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)
	good := []struct {
		name, key, value string
		want             Erasure
	}{
		{"full", "u42", `{"user_id":"u42","requested_at":"2026-03-01T12:00:00.25Z"}`, Erasure{UserID: "u42", RequestedAt: at}},
		{"key alone", "u42", ``, Erasure{UserID: "u42"}},
		{"empty object", "u42", `{}`, Erasure{UserID: "u42"}},
		{"time in ms, null user", "u42", `{"user_id":null,"requested_at":1772366400250}`, Erasure{UserID: "u42", RequestedAt: at}},
	}
	for _, c := range good {
		got, err := DecodeErasure([]byte(c.key), []byte(c.value), Limits{})
		if err != nil || !got.RequestedAt.Equal(c.want.RequestedAt) || got.UserID != c.want.UserID {
			t.Errorf("%s: got %+v, %v, want %+v", c.name, got, err, c.want)
		}
	}
	bad := []struct {
		name, key, value, field, reason string
	}{
		{"no key", "", `{"user_id":"u42"}`, "user_id", ReasonInvalidField},
		{"control character in the key", "u\x00", ``, "user_id", ReasonInvalidField},
		{"key too long", strings.Repeat("u", 300), ``, "user_id", ReasonTooLarge},
		{"another user", "u42", `{"user_id":"u43"}`, "user_id", ReasonInvalidField},
		{"unknown field", "u42", `{"user":"u42"}`, "user", ReasonUnknownField},
		{"not json", "u42", `{not json`, "", ReasonMalformed},
		{"an array", "u42", `["u42"]`, "", ReasonMalformed},
		{"a number for the user", "u42", `{"user_id":42}`, "user_id", ReasonInvalidField},
		{"a bad time", "u42", `{"requested_at":"yesterday"}`, "requested_at", ReasonInvalidField},
		{"trailing data", "u42", `{} {}`, "", ReasonMalformed},
		{"invalid UTF-8", "u42", "{\"user_id\":\"\xff\"}", "", ReasonMalformed},
	}
	for _, c := range bad {
		_, err := DecodeErasure([]byte(c.key), []byte(c.value), Limits{})
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a *ValidationError", c.name, err)
			continue
		}
		if ve.Reason != c.reason || ve.Field != c.field {
			t.Errorf("%s: got field %q reason %q (%v), want %q %q", c.name, ve.Field, ve.Reason, err, c.field, c.reason)
		}
	}
	// What Forget writes decodes to the same request.
	v, err := Erasure{UserID: "u42", RequestedAt: at}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeErasure([]byte("u42"), v, Limits{})
	if err != nil || got.UserID != "u42" || !got.RequestedAt.Equal(at) {
		t.Errorf("round trip: got %+v, %v", got, err)
	}
}
