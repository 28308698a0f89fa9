package topics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestReasonOf(t *testing.T) {
	ve := &ValidationError{Field: "ts", Reason: ReasonTimestamp, Detail: "too old"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"validation error", ve, ReasonTimestamp},
		{"wrapped", fmt.Errorf("processor: partition 3: %w", ve), ReasonTimestamp},
		{"other", errors.New("boom"), ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReasonOf(tc.err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	got := Reasons()
	want := []string{"malformed", "missing_field", "unknown_field", "invalid_field", "too_large", "timestamp", "late", "unknown_item"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	got[0] = "changed"
	if Reasons()[0] != "malformed" {
		t.Errorf("Reasons returned a shared slice")
	}
}

func TestValidationErrorError(t *testing.T) {
	tests := []struct {
		err  ValidationError
		want string
	}{
		{ValidationError{Field: "user_id", Reason: ReasonInvalidField, Detail: "empty"}, "topics: invalid user_id: empty"},
		{ValidationError{Reason: ReasonTooLarge, Detail: "the value is 70000 bytes long, more than 65536"}, "topics: invalid record: the value is 70000 bytes long, more than 65536"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestBrief(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", `"abc"`},
		{strings.Repeat("a", 40), `"` + strings.Repeat("a", 40) + `"`},
		{strings.Repeat("a", 41), `"` + strings.Repeat("a", 40) + `"...`},
		// 39 ASCII bytes then a 2-byte rune across the cut: cut before it.
		{strings.Repeat("a", 39) + "éé", `"` + strings.Repeat("a", 39) + `"...`},
		{"a\nb", `"a\nb"`},
	}
	for _, tc := range tests {
		if got := brief(tc.in); got != tc.want {
			t.Errorf("brief(%q): got %s, want %s", tc.in, got, tc.want)
		}
	}
}
