package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

func TestParseSequences(t *testing.T) {
	got, err := dataset.ParseSequences(strings.NewReader("1,2,3\n4\n2,2"))
	if err != nil {
		t.Fatal(err)
	}
	wantItems := []string{"1 2 3", "4", "2 2"}
	if len(got) != len(wantItems) {
		t.Fatalf("got %d sessions, want %d", len(got), len(wantItems))
	}
	var prevEnd time.Time
	for i, s := range got {
		if g := strings.Join(s.Items(), " "); g != wantItems[i] {
			t.Errorf("session %d: got items %q, want %q", i, g, wantItems[i])
		}
		if want := []string{"1", "2", "3"}[i]; s.ID != want {
			t.Errorf("session %d: got id %q, want %q", i, s.ID, want)
		}
		if !s.Start().After(prevEnd) && i > 0 {
			t.Errorf("session %d starts at %v, not after the previous end %v", i, s.Start(), prevEnd)
		}
		for j := 1; j < len(s.Events); j++ {
			if !s.Events[j].Time.After(s.Events[j-1].Time) {
				t.Errorf("session %d: event %d at %v not after %v", i, j, s.Events[j].Time, s.Events[j-1].Time)
			}
		}
		prevEnd = s.End()
	}
}

func TestParseSequencesErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		want string
	}{
		{"empty line", "1,2\n\n3\n", 2, "empty session"},
		{"empty item", "1,2\n3,,4\n", 2, "position 2"},
		{"trailing comma", "1,\n", 1, "empty item"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dataset.ParseSequences(strings.NewReader(tc.in))
			requireParseError(t, err, tc.line, tc.want)
		})
	}
}
