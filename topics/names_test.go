package topics

import (
	"errors"
	"strings"
	"testing"
)

func TestTopicValidate(t *testing.T) {
	tests := []struct {
		name    string
		topic   Topic
		wantErr bool
	}{
		{"default", Clicks, false},
		{"all legal characters", "Ab-9_x.y", false},
		{"longest", Topic(strings.Repeat("a", MaxTopicLength)), false},
		{"empty", "", true},
		{"too long", Topic(strings.Repeat("a", MaxTopicLength+1)), true},
		{"dot", ".", true},
		{"dot dot", "..", true},
		{"three dots are legal", "...", false},
		{"space", "my topic", true},
		{"slash", "a/b", true},
		{"non-ASCII", "clicks-é", true},
		{"control", "a\x00", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.topic.Validate()
			if got := err != nil; got != tc.wantErr {
				t.Fatalf("Validate(%q): got error %v, want error %t", tc.topic, err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Errorf("got %v, want it to wrap ErrInvalidName", err)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "topics: ") {
				t.Errorf("got %q, want the prefix \"topics: \"", err)
			}
		})
	}
}

func TestChangelog(t *testing.T) {
	if got, want := Changelog("sessionrec"), Topic("sessionrec-state"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNamesValidate(t *testing.T) {
	with := func(f func(*Names)) Names {
		n := DefaultNames()
		f(&n)
		return n
	}
	tests := []struct {
		name    string
		names   Names
		wantErr string // a substring of the error; "" for none
	}{
		{"defaults", DefaultNames(), ""},
		{"renamed", with(func(n *Names) { n.Clicks, n.Purchases = "shop.clicks", "shop.purchases" }), ""},
		{"empty is not a default", with(func(n *Names) { n.Items = "" }), "for items: empty"},
		{"illegal", with(func(n *Names) { n.DeadLetters = "dead letters" }), `for dead letters: "dead letters" has ' '`},
		{"equal", with(func(n *Names) { n.Purchases = Clicks }), `for purchases: "clicks" collides with the clicks topic "clicks": each topic needs its own name`},
		{"dot and underscore collide", with(func(n *Names) { n.Clicks, n.Purchases = "a.b", "a_b" }), `for purchases: "a_b" collides with the clicks topic "a.b": Kafka takes '.' and '_' for the same character`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.names.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("got %v, want it to wrap ErrInvalidName", err)
			}
		})
	}
}

func TestNamesWithDefaults(t *testing.T) {
	got := Names{Clicks: "c"}.WithDefaults()
	want := DefaultNames()
	want.Clicks = "c"
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, want := len(DefaultNames().All()), 7; got != want {
		t.Errorf("All: got %d names, want %d", got, want)
	}
}

func TestNamesKindOf(t *testing.T) {
	n := Names{Clicks: "c", Purchases: "p"}.WithDefaults()
	tests := []struct {
		topic  Topic
		want   Kind
		wantOK bool
	}{
		{"c", KindClick, true},
		{"p", KindPurchase, true},
		{Clicks, 0, false},
		{Recommendations, 0, false},
	}
	for _, tc := range tests {
		got, ok := n.KindOf(tc.topic)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("KindOf(%q): got %v, %t, want %v, %t", tc.topic, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestNamesWithSuffix(t *testing.T) {
	n := DefaultNames().WithSuffix("-x")
	for _, got := range n.All() {
		if !strings.HasSuffix(string(got), "-x") {
			t.Errorf("got %q, want the suffix -x", got)
		}
	}
	if n.Clicks != "clicks-x" || n.Models != "models-x" {
		t.Errorf("got %+v", n)
	}
	if err := n.Validate(); err != nil {
		t.Errorf("got %v, want valid names", err)
	}
}
