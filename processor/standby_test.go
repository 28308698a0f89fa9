package processor

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
)

func TestStandbyReplica(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testStandby(t, brokers) })
	}
}

// testStandby runs two instances with a standby replica each: b's store
// must follow the partition a owns, and when a leaves, b takes it over
// with a restore of the changelog's tail only.
func testStandby(t *testing.T, brokers []string) {
	const parts = 2
	names, _ := newTopics(t, brokers, parts)
	eng, err := testEngine()
	require.NoError(t, err)
	setup := func(p *Processor) { p.SetEngine(eng) }
	shop := synth.NewShop(1)
	stream := synth.Stream(shop.Sessions(4, synth.SessionConfig{Users: 20, Sessions: 40}))
	produce := eventProducer(t, brokers, names)
	var logsB syncBuffer
	a := startInstance(t, brokers, names, t.TempDir(), Config{Standby: 1}, setup)
	b := startInstance(t, brokers, names, t.TempDir(), Config{Standby: 1,
		Logger: slog.New(slog.NewTextHandler(&logsB, &slog.HandlerOptions{Level: slog.LevelInfo}))}, setup)
	// Wait until each owns one partition.
	owned := func(p *Processor) []int32 {
		p.mu.Lock()
		defer p.mu.Unlock()
		var ids []int32
		for id := range p.owned {
			ids = append(ids, id)
		}
		return ids
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(owned(a.p)) != 1 || len(owned(b.p)) != 1 {
		require.True(t, time.Now().Before(deadline), "no one partition each: a %v, b %v", owned(a.p), owned(b.p))
		time.Sleep(50 * time.Millisecond)
	}
	ofA := owned(a.p)[0]
	produce(stream)

	// b's store follows a's partition: the same users, the same states.
	usersOf := func(db *store.DB) map[string]string {
		out := map[string]string{}
		require.NoError(t, db.Users(ofA, func(id string, s *store.UserState) bool {
			out[id] = string(store.AppendUserState(nil, s))
			return true
		}))
		return out
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		wantUsers, gotUsers := usersOf(a.p.db), usersOf(b.p.db)
		cpA, errA := a.p.db.Checkpoint(ofA)
		cpB, errB := b.p.db.Checkpoint(ofA)
		if errA == nil && errB == nil && len(wantUsers) > 0 && cpA.Offsets[string(names.Clicks)] > 0 &&
			cpA.Changelog == cpB.Changelog && mapsEqual(wantUsers, gotUsers) {
			break
		}
		require.True(t, time.Now().Before(deadline), "b's standby of partition %d did not catch up: a at %d with %d users, b at %d with %d",
			ofA, cpA.Changelog, len(wantUsers), cpB.Changelog, len(gotUsers))
		time.Sleep(100 * time.Millisecond)
	}

	// a leaves: b takes its partition from its standby's position.
	a.stop()
	deadline = time.Now().Add(60 * time.Second)
	for len(owned(b.p)) != 2 {
		require.True(t, time.Now().Before(deadline), "b did not take a's partition")
		time.Sleep(50 * time.Millisecond)
	}
	logs := logsB.String()
	var restoreLine string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "partition restored from the changelog") && strings.Contains(l, "partition="+itoa(ofA)) {
			restoreLine = l
		}
	}
	require.NotEmpty(t, restoreLine, "no restore of partition %d in b's logs:\n%s", ofA, logs)
	require.Contains(t, restoreLine, "from_scratch=false", restoreLine)
	// The tail: b's own claim, and what a wrote after b's standby's
	// last fetch, if anything; never the partition's users again.
	var records int
	for _, f := range strings.Fields(restoreLine) {
		if n, ok := strings.CutPrefix(f, "records="); ok {
			records, err = strconv.Atoi(n)
			require.NoError(t, err)
		}
	}
	require.Positive(t, records, restoreLine)
	require.Less(t, records, 3, "a takeover from a standby read more than the tail: %s", restoreLine)
	b.stop()
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func itoa(i int32) string { return formatPartitions([]int32{i}) }

// A standby leaves alone a partition whose state the store holds from
// before changelogs: its owner seeds the changelog with it.
func TestStandbyLeavesPreChangelogState(t *testing.T) {
	db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	b := db.NewBatch(4)
	require.NoError(t, b.PutUser("u", &store.UserState{Applied: 3}))
	require.NoError(t, b.PutCheckpoint(store.Checkpoint{Offsets: map[string]int64{"clicks": 3}}))
	require.NoError(t, b.Commit(false))
	cfg := Config{Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	tb := &table{cfg: &cfg, db: db, brokers: &outage{cfg: &cfg}} // no admin: it must not be asked
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	tb.standby(ctx, 4)
	s, err := db.User(4, "u")
	require.NoError(t, err)
	require.Equal(t, uint64(3), s.Applied)
}
