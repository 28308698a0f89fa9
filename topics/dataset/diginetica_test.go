package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

const (
	digViewsHeader = "session_id;user_id;item_id;timeframe;eventdate\n"
	digBuysHeader  = "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n"
	digCatsHeader  = "itemId;categoryId\n"
)

func TestParseDiginetica(t *testing.T) {
	views := digViewsHeader +
		"7;NA;a;2000;2016-05-31\n" +
		"7;NA;c;86400000;2016-06-01\n" + // crosses midnight: date changes, timeframe keeps counting
		"7;NA;b;1000;2016-05-31\n" +
		"3;42;x;5;2016-05-01\n" +
		"3;NA;y;5;2016-05-01" // equal timeframe: file order; no trailing newline
	buys := digBuysHeader +
		"7;99;2500;2016-05-31;1;b\n" + // kept: session 7 has views; gives the user
		"8;NA;10;2016-05-31;2;z\n" // dropped: no views for session 8
	cats := digCatsHeader + "a;10\nb;11\nz;12\nunused;13\n"

	sessions, items, err := dataset.ParseDiginetica(strings.NewReader(views), strings.NewReader(buys), strings.NewReader(cats))
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	want := []dataset.Session{
		{ID: "3", User: "42", Events: []dataset.Event{
			{Item: "x", Time: day("2016-05-01").Add(ms(5))},
			{Item: "y", Time: day("2016-05-01").Add(ms(5))},
		}},
		{ID: "7", User: "99", Events: []dataset.Event{
			{Item: "b", Time: day("2016-05-31").Add(ms(1000))},
			{Item: "a", Time: day("2016-05-31").Add(ms(2000))},
			{Item: "b", Time: day("2016-05-31").Add(ms(2500)), Kind: dataset.Purchase},
			{Item: "c", Time: day("2016-06-01")},
		}},
	}
	if len(sessions) != len(want) {
		t.Fatalf("got %d sessions, want %d", len(sessions), len(want))
	}
	for i, w := range want {
		g := sessions[i]
		if g.ID != w.ID || g.User != w.User || len(g.Events) != len(w.Events) {
			t.Fatalf("session %d: got %+v, want %+v", i, g, w)
		}
		for j := range w.Events {
			if !g.Events[j].Time.Equal(w.Events[j].Time) || g.Events[j].Item != w.Events[j].Item || g.Events[j].Kind != w.Events[j].Kind {
				t.Errorf("session %s event %d: got %+v, want %+v", w.ID, j, g.Events[j], w.Events[j])
			}
		}
	}
	wantItems := map[string]dataset.Item{
		"a": {ID: "a", Category: "10"}, "b": {ID: "b", Category: "11"}, "c": {ID: "c"},
		"x": {ID: "x"}, "y": {ID: "y"},
	}
	if len(items) != len(wantItems) {
		t.Errorf("got %d items %v, want %d", len(items), items, len(wantItems))
	}
	for id, w := range wantItems {
		if items[id] != w {
			t.Errorf("item %s: got %+v, want %+v", id, items[id], w)
		}
	}
}

func TestParseDigineticaErrors(t *testing.T) {
	okViews := digViewsHeader + "1;NA;a;5;2016-05-01\n"
	tests := []struct {
		name              string
		views, buys, cats string
		file              string
		line              int
		want              string
	}{
		{"views header", "session;user\n", digBuysHeader, digCatsHeader, dataset.DigineticaViewsFile, 1, "header"},
		{"views fields", digViewsHeader + "1;NA;a;5\n", digBuysHeader, digCatsHeader, dataset.DigineticaViewsFile, 2, "want 5"},
		{"views timeframe", okViews + "1;NA;a;-5;2016-05-01\n", digBuysHeader, digCatsHeader, dataset.DigineticaViewsFile, 3, "timeframe"},
		{"views date", okViews + "1;NA;a;5;2016-13-01\n", digBuysHeader, digCatsHeader, dataset.DigineticaViewsFile, 3, "eventdate"},
		{"purchases fields", okViews, digBuysHeader + "1;NA;5;2016-05-01;1\n", digCatsHeader, dataset.DigineticaPurchasesFile, 2, "want 6"},
		{"categories empty", okViews, digBuysHeader, digCatsHeader + "a;1\nb;\n", dataset.DigineticaCategoriesFile, 3, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := dataset.ParseDiginetica(strings.NewReader(tc.views), strings.NewReader(tc.buys), strings.NewReader(tc.cats))
			requireParseError(t, err, tc.line, tc.want)
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("got %q, want it to name %s", err, tc.file)
			}
		})
	}
}
