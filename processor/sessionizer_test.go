package processor

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const minute = int64(time.Minute / time.Millisecond)

func ev(item string, at int64, id ...string) store.Event {
	e := store.Event{ItemID: item, TimeMs: at * minute}
	if len(id) > 0 {
		e.EventID = id[0]
	}
	return e
}

func items(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ItemID
	}
	return out
}

func TestSessionizerRules(t *testing.T) {
	z := Sessionizer{}
	cases := []struct {
		name       string
		events     []store.Event
		watermark  int64 // minutes
		wantOut    []Outcome
		wantCur    []string
		wantExpiry int64 // minutes
	}{
		{"one session", []store.Event{ev("a", 0), ev("b", 5), ev("c", 10)}, 0,
			[]Outcome{Applied, Applied, Applied}, []string{"a", "b", "c"}, 30},
		{"a gap splits", []store.Event{ev("a", 0), ev("b", 25)}, 0,
			[]Outcome{Applied, Applied}, []string{"b"}, 20},
		{"exactly the gap apart splits", []store.Event{ev("a", 0), ev("b", 20)}, 0,
			[]Outcome{Applied, Applied}, []string{"b"}, 20},
		{"a late event bridging the gap merges", []store.Event{ev("a", 0), ev("b", 25), ev("m", 12)}, 0,
			[]Outcome{Applied, Applied, Applied}, []string{"a", "m", "b"}, 45},
		{"older than the watermark is late", []store.Event{ev("a", 30), ev("old", 29)}, 30,
			[]Outcome{Applied, Late}, []string{"a"}, 50},
		{"duplicate event id applies once", []store.Event{ev("a", 0, "e1"), ev("a", 1, "e1"), ev("b", 2, "e2")}, 0,
			[]Outcome{Applied, Duplicate, Applied}, []string{"a", "b"}, 22},
		{"equal times keep arrival order", []store.Event{ev("x", 3), ev("y", 3), ev("z", 3)}, 0,
			[]Outcome{Applied, Applied, Applied}, []string{"x", "y", "z"}, 23},
		{"out of order within grace is placed in order", []store.Event{ev("b", 5), ev("a", 4)}, 4,
			[]Outcome{Applied, Applied}, []string{"a", "b"}, 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s store.UserState
			var got []Outcome
			for _, e := range tc.events {
				got = append(got, z.Apply(&s, "u", e, tc.watermark*minute))
			}
			require.Equal(t, tc.wantOut, got)
			require.Equal(t, tc.wantCur, items(z.Current(&s)))
			require.Equal(t, tc.wantExpiry*minute, z.ExpiryMs(&s))
			applied := 0
			for _, o := range got {
				if o == Applied {
					applied++
				}
			}
			require.Equal(t, uint64(applied), s.Applied)
			cur := z.Current(&s)
			require.Equal(t, fmt.Sprintf("u-%d", cur[0].TimeMs), s.SessionID)
			require.Equal(t, cur[len(cur)-1].TimeMs, s.LastEventMs)
		})
	}
}

func TestSessionizerExpire(t *testing.T) {
	z := Sessionizer{}
	var s store.UserState
	for _, e := range []store.Event{ev("a", 0), ev("b", 5), ev("c", 40), ev("d", 70)} {
		require.Equal(t, Applied, z.Apply(&s, "u", e, 0))
	}
	require.Empty(t, z.Expire(&s, "u", 24*minute), "a..b ends at 5, closes at 25")
	closed := z.Expire(&s, "u", 60*minute)
	require.Len(t, closed, 2)
	require.Equal(t, []string{"a", "b"}, items(closed[0]))
	require.Equal(t, []string{"c"}, items(closed[1]))
	require.Equal(t, []string{"d"}, items(s.Events))
	require.Equal(t, uint64(2), s.Sessions)
	require.Equal(t, "u-4200000", s.SessionID)
	closed = z.Expire(&s, "u", 90*minute)
	require.Len(t, closed, 1)
	require.Empty(t, s.Events)
	require.Empty(t, s.SessionID)
	require.Zero(t, z.ExpiryMs(&s), "no open session")
}

// goldenStep is one line of the golden scenario: an event in, and what the
// sessionizer made of it.
type goldenStep struct {
	Event     string     `json:"event"`
	Watermark int64      `json:"watermark_min"`
	Outcome   string     `json:"outcome"`
	Closed    [][]string `json:"closed,omitempty"`
	Open      []string   `json:"open"`
	Current   []string   `json:"current"`
	SessionID string     `json:"session_id"`
	ExpiryMin int64      `json:"expiry_min"`
}

// TestSessionizerGolden runs one user's event stream through the
// sessionizer as the processor does (watermark from the highest event time,
// expiry after each event) and compares every step with
// testdata/sessionizer.golden.json.
func TestSessionizerGolden(t *testing.T) {
	z := Sessionizer{Gap: 20 * time.Minute, Grace: 2 * time.Minute}
	stream := []store.Event{
		ev("catfood-1", 0, "e1"), ev("catfood-2", 3, "e2"), ev("catfood-1", 4, "e3"),
		ev("cattoy-1", 15, "e4"), ev("cattoy-1", 15, "e4"), // a producer retry: a duplicate
		ev("phone-1", 50, "e5"), ev("cattoy-2", 49, "e6"), // 1 min late: within grace
		ev("phone-2", 47, "e7"), // 3 min late: late
		ev("phone-3", 60, "e8"), ev("book-1", 95, "e9"), ev("book-2", 100, "e10"),
		ev("book-3", 160, "e11"),
	}
	var s store.UserState
	var steps []goldenStep
	var maxMs int64
	for _, e := range stream {
		maxMs = max(maxMs, e.TimeMs)
		wm := z.Watermark(maxMs)
		out := z.Apply(&s, "u", e, wm)
		var closed [][]string
		for _, c := range z.Expire(&s, "u", wm) {
			closed = append(closed, items(c))
		}
		steps = append(steps, goldenStep{
			Event: fmt.Sprintf("%s@%d", e.ItemID, e.TimeMs/minute), Watermark: wm / minute, Outcome: out.String(),
			Closed: closed, Open: items(s.Events), Current: items(z.Current(&s)), SessionID: s.SessionID,
			ExpiryMin: z.ExpiryMs(&s) / minute,
		})
	}
	got, err := json.MarshalIndent(steps, "", "  ")
	require.NoError(t, err)
	path := filepath.Join("testdata", "sessionizer.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./processor -run Golden -update")
	require.JSONEq(t, string(want), string(got))
}

// A user that never pauses for the gap (a bot, a shared key) has its
// session cut at MaxEvents: the state stays bounded and the next event
// starts a new session.
func TestSessionizerMaxEvents(t *testing.T) {
	z := Sessionizer{MaxEvents: 3}
	s := &store.UserState{}
	var cut [][]store.Event
	for i := range int64(7) {
		if z.Full(s) {
			cut = append(cut, z.Cut(s, "u")...)
		}
		if got := z.Apply(s, "u", ev(fmt.Sprint("i", i), i), 0); got != Applied {
			t.Fatalf("event %d: got %v, want applied", i, got)
		}
		if len(s.Events) > 3 {
			t.Fatalf("event %d: %d open events, want at most 3", i, len(s.Events))
		}
	}
	want := [][]string{{"i0", "i1", "i2"}, {"i3", "i4", "i5"}}
	got := make([][]string, len(cut))
	for i, c := range cut {
		got[i] = items(c)
	}
	require.Equal(t, want, got, "sessions cut")
	require.Equal(t, []string{"i6"}, items(z.Current(s)), "the new session")
	require.Equal(t, uint64(2), s.Sessions, "closed sessions")
	require.Equal(t, "u-"+fmt.Sprint(6*minute), s.SessionID)

	if (Sessionizer{MaxEvents: -1}).Full(&store.UserState{Events: make([]store.Event, 10_000)}) {
		t.Error("MaxEvents -1: got full, want no bound")
	}
}

// An event sent again after its session closed is a duplicate while its
// ID is in the window: the newest DedupIDs IDs, within DedupAge.
func TestSessionizerDedupClosed(t *testing.T) {
	z := Sessionizer{DedupIDs: 2, DedupAge: 30 * time.Minute}
	s := &store.UserState{}
	for i, id := range []string{"e1", "e2", "e3"} {
		require.Equal(t, Applied, z.Apply(s, "u", ev("a", int64(i), id), 0))
	}
	require.Len(t, z.Expire(s, "u", 100*minute), 1)
	require.Equal(t, []store.ClosedID{{ID: "e2", TimeMs: 1 * minute}, {ID: "e3", TimeMs: 2 * minute}}, s.ClosedIDs, "window after the close")
	// Sent again without a ts, they take a new record time.
	require.Equal(t, Duplicate, z.Apply(s, "u", ev("a", 200, "e3"), 0), "e3 again")
	require.Equal(t, Duplicate, z.Apply(s, "u", ev("a", 200, "e2"), 0), "e2 again")
	require.Equal(t, Applied, z.Apply(s, "u", ev("a", 200, "e1"), 0), "e1 left the window by count")

	// A session 2 hours later pushes the old IDs out by age.
	require.Equal(t, Applied, z.Apply(s, "u", ev("b", 201, "e4"), 0))
	require.Len(t, z.Expire(s, "u", 300*minute), 1)
	require.Equal(t, []store.ClosedID{{ID: "e1", TimeMs: 200 * minute}, {ID: "e4", TimeMs: 201 * minute}}, s.ClosedIDs, "window after the second close")

	off := Sessionizer{DedupIDs: -1}
	s = &store.UserState{}
	require.Equal(t, Applied, off.Apply(s, "u", ev("a", 0, "e1"), 0))
	off.Expire(s, "u", 100*minute)
	require.Empty(t, s.ClosedIDs, "DedupIDs -1 keeps none")
}

// BenchmarkApplySessionLength applies n events, one second apart (one
// session without the bound), to a fresh user as partition.process does
// (cut at MaxEvents, then apply), and reports the mean time per event and
// the user's encoded state at the end. With the bound both stay flat as n
// grows; without it (max=none, up to 10k events) both grow with n.
func BenchmarkApplySessionLength(b *testing.B) {
	for _, bc := range []struct {
		max int
		n   []int
	}{{0, []int{10, 1_000, 100_000}}, {-1, []int{10, 1_000, 10_000}}} {
		for _, n := range bc.n {
			name := fmt.Sprintf("max=%d/events=%d", DefaultMaxSessionEvents, n)
			if bc.max < 0 {
				name = fmt.Sprintf("max=none/events=%d", n)
			}
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprint("event-", i)
			}
			b.Run(name, func(b *testing.B) {
				z := Sessionizer{MaxEvents: bc.max}
				var s *store.UserState
				for b.Loop() {
					s = &store.UserState{}
					t := int64(1_700_000_000_000)
					for i := range n {
						if z.Full(s) {
							z.Cut(s, "bot")
						}
						t += 1000
						z.Apply(s, "bot", store.Event{ItemID: "item-42", TimeMs: t, EventID: ids[i]}, 0)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
				b.ReportMetric(float64(len(store.AppendUserState(nil, s))), "state-bytes")
			})
		}
	}
}
