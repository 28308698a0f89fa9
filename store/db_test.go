package store

import (
	"errors"
	"math"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"
)

func openMem(t *testing.T) *DB {
	t.Helper()
	d, err := Open("db", Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	return d
}

func TestBatchCommitsStateWithCheckpoint(t *testing.T) {
	d := openMem(t)
	_, err := d.User(1, "u1")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = d.Checkpoint(1)
	require.ErrorIs(t, err, ErrNotFound)

	b := d.NewBatch(1)
	require.NoError(t, b.PutUser("u1", sampleState()))
	require.NoError(t, b.PutCheckpoint(Checkpoint{Offsets: map[string]int64{"clicks": 10}}))
	// Nothing is visible before the commit.
	_, err = d.User(1, "u1")
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, b.Commit(false))

	got, err := d.User(1, "u1")
	require.NoError(t, err)
	require.Equal(t, sampleState(), got)
	cp, err := d.Checkpoint(1)
	require.NoError(t, err)
	require.Equal(t, int64(10), cp.Offsets["clicks"])
	_, err = d.User(2, "u1")
	require.ErrorIs(t, err, ErrNotFound, "partitions are separate")

	aborted := d.NewBatch(1)
	require.NoError(t, aborted.DeleteUser("u1"))
	require.NoError(t, aborted.Abort())
	_, err = d.User(1, "u1")
	require.NoError(t, err, "an aborted batch changes nothing")
}

func TestExpiringAndUsers(t *testing.T) {
	d := openMem(t)
	b := d.NewBatch(0)
	for _, u := range []struct {
		id string
		ms int64
	}{{"a", 300}, {"b", 100}, {"c", 200}} {
		require.NoError(t, b.PutUser(u.id, &UserState{LastEventMs: u.ms}))
		require.NoError(t, b.SetExpiry(u.id, 0, u.ms))
	}
	require.NoError(t, b.SetExpiry("a", 300, 50), "moves a's entry")
	require.NoError(t, b.Commit(true))
	other := d.NewBatch(1)
	require.NoError(t, other.SetExpiry("z", 0, 10))
	require.NoError(t, other.Commit(true))

	var got []string
	require.NoError(t, d.Expiring(0, 150, func(id string, ms int64) bool {
		got = append(got, id)
		return true
	}))
	require.Equal(t, []string{"a", "b"}, got, "in expiry order, up to 150, partition 0 only")

	got = got[:0]
	require.NoError(t, d.Users(0, func(id string, s *UserState) bool {
		got = append(got, id)
		return len(got) < 2
	}))
	require.Equal(t, []string{"a", "b"}, got, "stops when fn returns false")

	require.NoError(t, d.DropPartition(0))
	n := 0
	require.NoError(t, d.Users(0, func(string, *UserState) bool { n++; return true }))
	require.NoError(t, d.Expiring(0, math.MaxInt64, func(string, int64) bool { n++; return true }))
	require.Zero(t, n)
	require.NoError(t, d.Expiring(1, math.MaxInt64, func(string, int64) bool { n++; return true }))
	require.Equal(t, 1, n, "other partitions stay")
}

// TestDurableAcrossReopen writes to a real directory, closes and reopens.
func TestDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{})
	require.NoError(t, err)
	b := d.NewBatch(4)
	require.NoError(t, b.PutUser("u", sampleState()))
	require.NoError(t, b.PutCheckpoint(Checkpoint{Offsets: map[string]int64{"clicks": 5}}))
	require.NoError(t, b.Commit(true))
	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "Close is idempotent")

	d, err = Open(dir, Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, d.Close()) }()
	got, err := d.User(4, "u")
	require.NoError(t, err)
	require.Equal(t, sampleState(), got)
}

func TestOpenRefusesOtherSchema(t *testing.T) {
	fs := vfs.NewMem()
	d, err := Open("db", Options{FS: fs})
	require.NoError(t, err)
	require.NoError(t, d.db.Set(schemaKey, []byte{99}, nil))
	require.NoError(t, d.Close())
	_, err = Open("db", Options{FS: fs})
	require.True(t, errors.Is(err, ErrSchema), "got %v", err)
}

func TestCheckpoints(t *testing.T) {
	db, err := Open("db", Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	for _, p := range []int32{7, 2} {
		b := db.NewBatch(p)
		require.NoError(t, b.PutCheckpoint(Checkpoint{Offsets: map[string]int64{"clicks": int64(p)}, Changelog: 100 + int64(p)}))
		require.NoError(t, b.Commit(false))
	}
	b := db.NewBatch(5) // a user, no checkpoint: not a partition the store holds
	require.NoError(t, b.PutUser("u", &UserState{Applied: 1}))
	require.NoError(t, b.Commit(false))
	cps, err := db.Checkpoints()
	require.NoError(t, err)
	require.Len(t, cps, 2)
	require.Equal(t, int64(102), cps[2].Changelog)
	require.Equal(t, int64(7), cps[7].Offsets["clicks"])
}
