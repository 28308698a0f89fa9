package processor

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

func TestChangelogFencesTheOlderOwner(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testChangelogFencing(t, brokers) })
	}
}

func testChangelogFencing(t *testing.T, brokers []string) {
	ctx := t.Context()
	group := "g" + string(uniqueNames(t).Clicks)
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.CreateChangelog(ctx, group, 2))

	user := func(id string, applied uint64) userRecord {
		return userRecord{id: id, state: store.AppendUserState(nil, &store.UserState{Applied: applied})}
	}
	cp := store.Checkpoint{Offsets: map[string]int64{"clicks": 1}, WatermarkMs: 5}

	a, err := openStateLog(brokers, nil, group, 1)
	require.NoError(t, err)
	defer a.Close()
	_, err = a.claim(ctx, ownerClaim{Member: "a", Generation: 1})
	require.NoError(t, err)
	published := 0
	publish := func() error { published++; return nil }
	_, err = a.txn(ctx, changelogRecords([]userRecord{user("u1", 1)}, cp), publish)
	require.NoError(t, err)
	require.Equal(t, 1, published)

	// b takes the partition: a is fenced at its next write, before it
	// publishes, and nothing of that write is ever read.
	b, err := openStateLog(brokers, nil, group, 1)
	require.NoError(t, err)
	defer b.Close()
	claimB, err := b.claim(ctx, ownerClaim{Member: "b", Generation: 2})
	require.NoError(t, err)
	_, err = a.txn(ctx, changelogRecords([]userRecord{user("u1", 2)}, cp), publish)
	require.ErrorIs(t, err, errFenced)
	require.Equal(t, 1, published, "a fenced owner published")
	last, err := b.txn(ctx, changelogRecords([]userRecord{user("u2", 3)}, cp), publish)
	require.NoError(t, err)

	cfg := Config{Brokers: brokers, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	tb := &table{cfg: &cfg, brokers: &outage{cfg: &cfg}, topic: topics.Changelog(group)}
	var got []string
	require.NoError(t, tb.readChangelog(ctx, 1, 0, last, func(k, v []byte) error {
		switch string(k) {
		case string(claimLogKey), string(checkpointLogKey):
			got = append(got, fmt.Sprintf("%q", k))
		default:
			s, err := store.DecodeUserState(v)
			require.NoError(t, err)
			got = append(got, fmt.Sprintf("%s=%d", k, s.Applied))
		}
		return nil
	}))
	require.Equal(t, []string{`"\xffowner"`, "u1=1", `"\xffcheckpoint"`, `"\xffowner"`, "u2=3", `"\xffcheckpoint"`}, got)
	require.Greater(t, last, claimB)
}

// storeUsers returns every user's encoded state of a store's partitions.
func storeUsers(t *testing.T, db *store.DB, partitions int32) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id := range partitions {
		require.NoError(t, db.Users(id, func(user string, s *store.UserState) bool {
			out[user] = string(store.AppendUserState(nil, s))
			return true
		}))
	}
	return out
}

func TestStateFollowsThePartition(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testStateFollows(t, brokers) })
	}
}

// testStateFollows runs a partition on instance A, then on B (a fresh
// disk: a restore from the changelog's start), then on A again (its old
// store: a restore of the tail from its position), and checks that each
// holds exactly the state of the one before, and counts every event once.
func testStateFollows(t *testing.T, brokers []string) {
	const parts = 2
	names, _ := newTopics(t, brokers, parts)
	eng, err := testEngine()
	require.NoError(t, err)
	setup := func(p *Processor) { p.SetEngine(eng) }
	dirA, dirB := t.TempDir(), t.TempDir()
	shop := synth.NewShop(1)
	stream := synth.Stream(shop.Sessions(3, synth.SessionConfig{Users: 12, Sessions: 30}))
	third := len(stream) / 3
	produce := eventProducer(t, brokers, names)
	// read returns how many input records the store's checkpoints say
	// were read, and how many events its users applied.
	read := func(db *store.DB) (records int64, applied uint64) {
		for id := range int32(parts) {
			if cp, err := db.Checkpoint(id); err == nil {
				records += cp.Offsets[string(names.Clicks)] + cp.Offsets[string(names.Purchases)]
			}
			require.NoError(t, db.Users(id, func(_ string, s *store.UserState) bool {
				applied += s.Applied
				return true
			}))
		}
		return records, applied
	}
	// run starts an instance on dir, feeds it evs, waits for it to have
	// read want records in all, stops it, and returns its users.
	var lastApplied uint64
	run := func(dir string, evs []synth.Event, want int64, before map[string]string) map[string]string {
		in := startInstance(t, brokers, names, dir, Config{}, setup)
		if before != nil {
			require.Equal(t, before, storeUsers(t, in.p.db, parts), "the state restored differs from the last owner's")
		}
		produce(evs)
		deadline := time.Now().Add(60 * time.Second)
		for {
			n, applied := read(in.p.db)
			if n == want {
				require.Greater(t, applied, lastApplied)
				lastApplied = applied
				break
			}
			require.True(t, time.Now().Before(deadline), "read %d records of %d", n, want)
			time.Sleep(50 * time.Millisecond)
		}
		users := storeUsers(t, in.p.db, parts)
		in.stop()
		return users
	}
	a := run(dirA, stream[:third], int64(third), nil)
	b := run(dirB, stream[third:2*third], int64(2*third), a)
	run(dirA, stream[2*third:], int64(len(stream)), b)

	// The changelog holds one claim per hand-over.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(string(topics.Changelog("g"+string(names.Clicks)))), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	claims := 0
	for claims < 3*parts && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == string(claimLogKey) {
				claims++
			}
		})
	}
	require.Equal(t, 3*parts, claims)
}

func TestChangelogSeededFromAnOlderStore(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testSeed(t, brokers) })
	}
}

// testSeed starts an instance on a store written by a version without a
// changelog (a checkpoint at position 0): its state must reach the
// changelog, and from there an instance on a fresh disk, not be dropped.
func testSeed(t *testing.T, brokers []string) {
	names, _ := newTopics(t, brokers, 1)
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	b := db.NewBatch(0)
	for i := range 50 {
		require.NoError(t, b.PutUser(fmt.Sprintf("old-user-%02d", i), &store.UserState{Applied: uint64(i + 1), Sessions: 1}))
	}
	require.NoError(t, b.PutCheckpoint(store.Checkpoint{Offsets: map[string]int64{string(names.Clicks): 0}, WatermarkMs: 1000}))
	require.NoError(t, b.Commit(true))
	want := storeUsers(t, db, 1)
	require.NoError(t, db.Close())

	a := startInstance(t, brokers, names, dir, Config{}, nil)
	require.Equal(t, want, storeUsers(t, a.p.db, 1), "the older store's state was dropped")
	a.stop()
	fresh := startInstance(t, brokers, names, t.TempDir(), Config{}, nil)
	require.Equal(t, want, storeUsers(t, fresh.p.db, 1), "the changelog was not seeded with the older store's state")
	cp, err := fresh.p.db.Checkpoint(0)
	require.NoError(t, err)
	require.Equal(t, int64(1000), cp.WatermarkMs)
	fresh.stop()
}
