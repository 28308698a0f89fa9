package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

func TestParseYoochoose(t *testing.T) {
	in := "SessionId\tItemId\tTime\n" +
		"2\tb\t100.5\n" +
		"1\tx\t50\n" +
		"2\ta\t100.25\n" +
		"2\tc\t100.5\n" + // same time as b: stays after it
		"1\ty\t40.000000001\r\n"
	got, err := dataset.ParseYoochoose(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	type sess struct {
		id    string
		items string
		start time.Time
	}
	want := []sess{
		{"1", "y x", time.Unix(40, 1).UTC()},
		{"2", "a b c", time.Unix(100, 250_000_000).UTC()},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d sessions, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := sess{got[i].ID, strings.Join(got[i].Items(), " "), got[i].Start()}
		if g != w {
			t.Errorf("session %d: got %+v, want %+v", i, g, w)
		}
		for _, e := range got[i].Events {
			if e.Kind != dataset.Click {
				t.Errorf("session %s: got kind %v, want click", got[i].ID, e.Kind)
			}
		}
	}
}

func TestParseYoochooseErrors(t *testing.T) {
	const h = "SessionId\tItemId\tTime\n"
	tests := []struct {
		name string
		in   string
		line int
		want string
	}{
		{"empty input", "", 1, "missing header"},
		{"wrong header", "a\tb\tc\n", 1, "header"},
		{"too few fields", h + "1\t2\t3\n1\t2\n", 3, "want 3"},
		{"too many fields", h + "1\t2\t3\t4\n", 2, "want 3"},
		{"bad time", h + "1\t2\t3\n1\t2\tnoon\n", 3, "time"},
		{"negative time", h + "1\t2\t-3\n", 2, "time"},
		{"long fraction", h + "1\t2\t3.1234567891\n", 2, "fraction"},
		{"empty item", h + "1\t\t3\n", 2, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dataset.ParseYoochoose(strings.NewReader(tc.in))
			requireParseError(t, err, tc.line, tc.want)
		})
	}
}
