package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/topics"
)

// The demo's shoppers, run in-process with --follow 0.3, and the
// processor's attribution of their clicks: the same counts, and an
// interval that holds both the demo's realized rate and the 0.3 it drew
// with.
//
// The demo's count is exact by construction: it sends each chunk of events
// only once the processor has handled the previous ones and the demo has
// read their records (sendFollowing), so a click is decided on the
// records the processor judges it by; and a shopper who does not follow
// never clicks a recommended item by chance (follower.click). So the test
// asks for the same counts, not close ones. The run is deterministic (the
// shop, the model, the draws), so the interval's check is not a 1-in-20
// chance of failing at every run.
func TestDemoFollowAttribution(t *testing.T) {
	const follow = 0.3
	settled := make(chan followCount, 1)
	runner := func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return demo(ctx, args, stdout, stderr, func(c followCount) { settled <- c })
	}
	// 800 sessions, about 4100 events and 2700 eligible clicks, sent as
	// fast as the processor takes them. A shopper's sessions are an hour
	// apart: among 50000 shoppers few have two of the 800, which then span
	// 15 minutes of event time, not hours of scattered sessions, each
	// event in a chunk of its own that waits for the processor.
	d := startDemoWith(t, runner, "--follow", "0.3", "--users", "50000", "--sessions", "800", "--speed", "0", "--duration", "5m")
	var c followCount
	select {
	case c = <-settled:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the demo did not send its events; stderr:\n%s", d.errOut.String())
	}

	resp, err := http.Get(d.base + "/v1/attribution")
	require.NoError(t, err)
	defer func() { require.NoError(t, resp.Body.Close()) }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var att struct {
		Groups []struct {
			ModelVersion   string     `json:"model_version"`
			Clicks         int        `json:"clicks"`
			ClicksFollowed int        `json:"clicks_followed"`
			Rate           float64    `json:"click_follow_rate"`
			CI             [2]float64 `json:"click_follow_ci"`
		} `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(body, &att), "%s", body)
	require.Len(t, att.Groups, 1, "one model, no split: %s", body)
	g := att.Groups[0]
	t.Logf("demo: %d eligible clicks, %d followed, rate %.4f; attribution: %d clicks, %d followed, rate %.4f, 95%% interval [%.4f, %.4f]",
		c.Eligible, c.Followed, c.Rate(), g.Clicks, g.ClicksFollowed, g.Rate, g.CI[0], g.CI[1])

	require.GreaterOrEqual(t, c.Eligible, 2000, "enough eligible clicks for the interval to mean something")
	require.Equal(t, c.Eligible, g.Clicks, "eligible clicks: got %d from the attribution, want the demo's %d", g.Clicks, c.Eligible)
	require.Equal(t, c.Followed, g.ClicksFollowed, "followed clicks: got %d from the attribution, want the demo's %d", g.ClicksFollowed, c.Followed)
	require.Less(t, g.CI[1]-g.CI[0], 0.05, "the interval is tight")
	require.True(t, g.CI[0] <= c.Rate() && c.Rate() <= g.CI[1], "the interval [%v, %v] holds the demo's rate %v", g.CI[0], g.CI[1], c.Rate())
	require.True(t, g.CI[0] <= follow && follow <= g.CI[1], "the interval [%v, %v] holds the rate the demo drew with, %v", g.CI[0], g.CI[1], follow)

	d.stop()
	require.NoError(t, d.wait(), d.errOut.String())
}

// --follow is a probability, and counts against the attribution: the
// demo refuses anything else before it starts.
func TestDemoFollowRefusesOutOfRange(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"negative", []string{"--follow", "-0.1"}, "--follow -0.1: want 0 to 1"},
		{"above 1", []string{"--follow", "1.01"}, "--follow 1.01: want 0 to 1"},
		{"NaN", []string{"--follow", "NaN"}, "--follow NaN: want 0 to 1"},
		{"infinite", []string{"--follow", "+Inf"}, "--follow +Inf: want 0 to 1"},
		{"attribution off", []string{"--follow", "0.3", "--attribution-window", "-1s"}, "--follow 0.3 needs attribution: --attribution-window -1s, want more than 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut lockedBuffer
			err := run(t.Context(), append([]string{"demo", "--http", ""}, tc.args...), &out, &errOut)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// The follower's choices and counts, one click at a time, against records
// of the shape the processor publishes.
func TestFollowerClick(t *testing.T) {
	shop := synth.NewShop(1)
	cat := func(i int) string { return shop.Items[shop.ByTopic[0][i]].ID } // cat food
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const window = 30 * time.Minute
	record := func(user string, at time.Time, items ...string) kafka.Message {
		r := topics.Recommendation{UserID: user, Source: topics.Source{Topic: "clicks", EventTime: at}, ProducedAt: at}
		for _, it := range items {
			r.Items = append(r.Items, topics.RecommendedItem{ItemID: it})
		}
		v, err := r.Encode()
		require.NoError(t, err)
		return kafka.Message{Key: []byte(user), Value: v}
	}
	tombstone := kafka.Message{Key: []byte("u")}
	type click struct {
		at      time.Time
		planned string
	}
	cases := []struct {
		name    string
		p       float64
		records []kafka.Message
		click   click
		// want is the item clicked, "" for any item not in notShown.
		want     string
		notShown []string
		count    followCount
	}{
		{name: "no record: as planned", p: 1, click: click{t0, cat(0)}, want: cat(0)},
		{name: "follows the latest record", p: 1,
			records: []kafka.Message{record("u", t0, cat(1)), record("u", t0.Add(time.Minute), cat(2))},
			click:   click{t0.Add(2 * time.Minute), cat(0)}, want: cat(2), count: followCount{1, 1}},
		{name: "does not follow: as planned when not shown", p: 0,
			records: []kafka.Message{record("u", t0, cat(1), cat(2))},
			click:   click{t0.Add(time.Minute), cat(0)}, want: cat(0), count: followCount{1, 0}},
		{name: "does not follow: another item when the planned one was shown", p: 0,
			records: []kafka.Message{record("u", t0, cat(0), cat(1))},
			click:   click{t0.Add(time.Minute), cat(0)}, notShown: []string{cat(0), cat(1)}, count: followCount{1, 0}},
		{name: "a record at the window's start still counts", p: 1,
			records: []kafka.Message{record("u", t0, cat(1))},
			click:   click{t0.Add(window), cat(0)}, want: cat(1), count: followCount{1, 1}},
		{name: "a record older than the window does not", p: 1,
			records: []kafka.Message{record("u", t0, cat(0))},
			click:   click{t0.Add(window + time.Millisecond), cat(0)}, want: cat(0)},
		{name: "another user's record does not", p: 1,
			records: []kafka.Message{record("v", t0, cat(0))},
			click:   click{t0.Add(time.Minute), cat(0)}, want: cat(0)},
		{name: "a tombstone forgets the user", p: 1,
			records: []kafka.Message{record("u", t0, cat(1)), tombstone},
			click:   click{t0.Add(time.Minute), cat(0)}, want: cat(0)},
		{name: "a record without a source event time shows nothing", p: 1,
			records: []kafka.Message{record("u", time.Time{}, cat(1))},
			click:   click{t0, cat(0)}, want: cat(0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFollower(tc.p, window, shop, 1)
			for _, r := range tc.records {
				require.NoError(t, f.read(r))
			}
			got := f.click("u", tc.click.at, tc.click.planned)
			if tc.want != "" {
				require.Equal(t, tc.want, got)
			}
			require.False(t, slices.Contains(tc.notShown, got), "got %s, want an item not in %v", got, tc.notShown)
			require.Equal(t, tc.count, f.count())
		})
	}
}
