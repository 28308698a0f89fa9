package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

const rees46Header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"

// TestParseREES46 parses the same events without a header line (as the
// November slice) and with one (as the cosmetics file): the header is
// skipped, the line numbers of errors still count it (see the errors test).
func TestParseREES46(t *testing.T) {
	events := "2019-11-01 00:00:02 UTC,view,1,20,electronics.smartphone,apple,10.5,u1,s1\n" +
		"2019-11-01 00:00:01 UTC,cart,2,21,,,0,u1,s1\n" +
		"2019-11-01 00:00:00 UTC,view,3,22,,acme,,u2,s2\n" +
		"2019-11-01 00:00:03 UTC,purchase,1,20,,,11,u1,s1\n" + // price updates, code and brand kept
		"2019-11-01 00:00:04 UTC,remove_from_cart,2,21,,,0,u1,s1\n" + // dropped
		"2019-11-01 00:00:04 UTC,remove_from_cart,5,24,,acme,3,u4,s4\n" + // dropped, item kept
		"2019-11-01 00:00:05 UTC,view,4,23,,,1,u3,\n" // no session: dropped, item kept
	for _, tc := range []struct{ name, in string }{
		{"no header", events},
		{"header", rees46Header + events},
		{"header CRLF", strings.ReplaceAll(rees46Header+events, "\n", "\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) { checkREES46Events(t, tc.in) })
	}
}

func checkREES46Events(t *testing.T, in string) {
	t.Helper()
	sessions, items, err := dataset.ParseREES46(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return time.Date(2019, 11, 1, 0, 0, sec, 0, time.UTC) }
	want := []dataset.Session{
		{ID: "s2", User: "u2", Events: []dataset.Event{{Item: "3", Time: at(0)}}},
		{ID: "s1", User: "u1", Events: []dataset.Event{
			{Item: "2", Time: at(1)},
			{Item: "1", Time: at(2)},
			{Item: "1", Time: at(3), Kind: dataset.Purchase},
		}},
	}
	if len(sessions) != len(want) {
		t.Fatalf("got %d sessions %+v, want %d", len(sessions), sessions, len(want))
	}
	for i, w := range want {
		g := sessions[i]
		if g.ID != w.ID || g.User != w.User || len(g.Events) != len(w.Events) {
			t.Fatalf("session %d: got %+v, want %+v", i, g, w)
		}
		for j := range w.Events {
			if g.Events[j] != w.Events[j] {
				t.Errorf("session %s event %d: got %+v, want %+v", w.ID, j, g.Events[j], w.Events[j])
			}
		}
	}
	wantItems := map[string]dataset.Item{
		"1": {ID: "1", Category: "electronics.smartphone", Brand: "apple", Price: 11},
		"2": {ID: "2", Category: "21"},
		"3": {ID: "3", Category: "22", Brand: "acme"},
		"4": {ID: "4", Category: "23", Price: 1},
		"5": {ID: "5", Category: "24", Brand: "acme", Price: 3},
	}
	if len(items) != len(wantItems) {
		t.Errorf("got %d items, want %d", len(items), len(wantItems))
	}
	for id, w := range wantItems {
		if items[id] != w {
			t.Errorf("item %s: got %+v, want %+v", id, items[id], w)
		}
	}
}

func TestParseREES46HeaderOnly(t *testing.T) {
	sessions, items, err := dataset.ParseREES46(strings.NewReader(rees46Header))
	if err != nil || len(sessions) != 0 || len(items) != 0 {
		t.Errorf("got %d sessions, %d items, %v; want none and no error", len(sessions), len(items), err)
	}
}

func TestParseREES46Errors(t *testing.T) {
	const ok = "2019-11-01 00:00:00 UTC,view,1,20,,,1,u,s\n"
	tests := []struct {
		name string
		in   string
		line int
		want string
	}{
		{"fields", ok + "2019-11-01 00:00:00 UTC,view,1\n", 2, "want 9"},
		{"no UTC", "2019-11-01 00:00:00,view,1,20,,,1,u,s\n", 1, "UTC"},
		{"bad time", ok + ok + "2019-11-01 25:00:00 UTC,view,1,20,,,1,u,s\n", 3, "event_time"},
		{"event type", ok + "2019-11-01 00:00:00 UTC,wishlist,1,20,,,1,u,s\n", 2, "wishlist"},
		{"price", ok + "2019-11-01 00:00:00 UTC,view,1,20,,,cheap,u,s\n", 2, "price"},
		{"negative price", "2019-11-01 00:00:00 UTC,view,1,20,,,-1,u,s\n", 1, "price"},
		{"product", "2019-11-01 00:00:00 UTC,view,,20,,,1,u,s\n", 1, "product_id"},
		{"header line counted", rees46Header + ok + "2019-11-01 00:00:00 UTC,view,1\n", 3, "want 9"},
		{"other header", "event_time,event_type,product_id,category_id,brand,price,user_id,user_session\n" + ok, 1, "header"},
		{"header not first", ok + rees46Header, 2, "UTC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := dataset.ParseREES46(strings.NewReader(tc.in))
			requireParseError(t, err, tc.line, tc.want)
		})
	}
}
