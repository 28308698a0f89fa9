package dataset_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

func TestParseREES46(t *testing.T) {
	in := "2019-11-01 00:00:02 UTC,view,1,20,electronics.smartphone,apple,10.5,u1,s1\n" +
		"2019-11-01 00:00:01 UTC,cart,2,21,,,0,u1,s1\n" +
		"2019-11-01 00:00:00 UTC,view,3,22,,acme,,u2,s2\n" +
		"2019-11-01 00:00:03 UTC,purchase,1,20,,,11,u1,s1\n" + // price updates, code and brand kept
		"2019-11-01 00:00:04 UTC,remove_from_cart,2,21,,,0,u1,s1\n" + // dropped
		"2019-11-01 00:00:05 UTC,view,4,23,,,1,u3,\n" // no session: dropped, item kept
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := dataset.ParseREES46(strings.NewReader(tc.in))
			requireParseError(t, err, tc.line, tc.want)
		})
	}
}
