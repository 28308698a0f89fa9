package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"
)

// walWrites injects an error into every write to the write-ahead log
// while it is on.
func walWrites() *errorfs.Toggle {
	return &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			return errorfs.ErrInjected
		}
		return nil
	})}
}

// A disk that fails the write-ahead log's writes fails the store: the
// commit that meets it returns an error wrapping ErrFailed (never a
// panic), OnError hears of it, Failed is closed, and every later call
// fails at once. After the disk comes back, the store opened again on the
// same directory holds exactly the batches committed before the failure.
func TestStoreFailsOnDiskError(t *testing.T) {
	mem := vfs.NewMem()
	fault := walWrites()
	var mu sync.Mutex
	var kinds []string
	d, err := Open("db", Options{FS: errorfs.Wrap(mem, fault), OnError: func(kind string, err error) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, kind)
	}})
	require.NoError(t, err)

	commit := func(d *DB, n int64) error {
		b := d.NewBatch(0)
		require.NoError(t, b.PutUser(fmt.Sprint("u", n), &UserState{Applied: uint64(n)}))
		require.NoError(t, b.PutCheckpoint(Checkpoint{Offsets: map[string]int64{"clicks": n}}))
		return b.Commit(true)
	}
	for n := range int64(5) {
		require.NoError(t, commit(d, n+1))
	}
	fault.On()
	err = commit(d, 6)
	require.ErrorIs(t, err, ErrFailed, "the commit the disk failed")
	select {
	case <-d.Failed():
	default:
		t.Fatal("Failed not closed after a failed commit")
	}
	require.ErrorIs(t, d.Err(), ErrFailed)
	mu.Lock()
	require.Contains(t, kinds, "fatal", "OnError kinds")
	mu.Unlock()
	fault.Off()
	require.ErrorIs(t, commit(d, 7), ErrFailed, "a commit after the failure")
	_, err = d.Checkpoint(0)
	require.ErrorIs(t, err, ErrFailed, "a read after the failure")
	require.ErrorIs(t, d.Close(), ErrFailed, "Close of a failed store")

	d2, err := Open("db", Options{FS: mem})
	require.NoError(t, err, "reopen after the disk came back")
	defer func() { require.NoError(t, d2.Close()) }()
	cp, err := d2.Checkpoint(0)
	require.NoError(t, err)
	require.Equal(t, int64(5), cp.Offsets["clicks"], "the checkpoint of the last batch committed before the failure")
	_, err = d2.User(0, "u6")
	require.True(t, errors.Is(err, ErrNotFound), "the failed batch's user: got %v, want not found", err)
}

// A flush that cannot write its tables (a full disk) is a background
// error: it fails the store, and the next commit says so.
func TestStoreFailsOnBackgroundError(t *testing.T) {
	fault := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".sst") {
			return errorfs.ErrInjected
		}
		return nil
	})}
	var mu sync.Mutex
	var kinds []string
	d, err := Open("db", Options{FS: errorfs.Wrap(vfs.NewMem(), fault), OnError: func(kind string, err error) {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, kind)
	}})
	require.NoError(t, err)
	b := d.NewBatch(0)
	require.NoError(t, b.PutUser("u", &UserState{Applied: 1}))
	require.NoError(t, b.Commit(false))
	fault.On()
	_, err = d.db.AsyncFlush() // Pebble retries a failed flush until it succeeds
	require.NoError(t, err)
	select {
	case <-d.Failed():
	case <-time.After(30 * time.Second):
		t.Fatal("a flush onto the failing disk did not fail the store")
	}
	mu.Lock()
	require.Contains(t, kinds, "background")
	mu.Unlock()
	b = d.NewBatch(0)
	require.NoError(t, b.PutUser("u", &UserState{Applied: 2}))
	require.ErrorIs(t, b.Commit(false), ErrFailed, "a commit after the background error")
	fault.Off()
	require.ErrorIs(t, d.Close(), ErrFailed)
}

// Pebble panics when a NoSync commit cannot write its log, and leaves its
// commit pipeline locked. Commits on other goroutines (other partitions')
// must not wait for it forever: each returns ErrFailed.
func TestStoreFailsOnDiskErrorConcurrently(t *testing.T) {
	fault := walWrites()
	d, err := Open("db", Options{FS: errorfs.Wrap(vfs.NewMem(), fault)})
	require.NoError(t, err)
	fault.On()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range errs {
		wg.Go(func() {
			// NoSync commits write the log in the background: the error
			// comes a few commits later.
			for i := range 100_000 {
				b := d.NewBatch(int32(w))
				require.NoError(t, b.PutUser(fmt.Sprint("u", i), &UserState{Applied: uint64(i), SessionID: strings.Repeat("s", 1000)}))
				if errs[w] = b.Commit(false); errs[w] != nil {
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("commits still blocked 30 s after the disk failed")
	}
	for w, err := range errs {
		require.ErrorIs(t, err, ErrFailed, "writer %d", w)
	}
	fault.Off()
	require.ErrorIs(t, d.Close(), ErrFailed)
}

// Commits that do not sync write the log in the background: a failed
// write there fails the store at once, so the next commit returns
// ErrFailed. Before the store watched the log itself, Pebble found the
// error only when it rotated the log to a new file, by a panic that ends
// the process (it unlocks a mutex twice): commits big enough to fill the
// memtable (4 MiB) again and again reach that rotation within this loop.
//
// The failing write is slowed down by 100 ms, so that commits go on past
// it and the one that fills the memtable rotates the log before the store
// has failed: a commit already inside Pebble, whose rotation would end the
// process unless the store holds it (walFile.hold).
func TestStoreFailsOnUnsyncedLogWrite(t *testing.T) {
	fault := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && strings.HasSuffix(op.Path, ".log") {
			time.Sleep(100 * time.Millisecond)
			return errorfs.ErrInjected
		}
		return nil
	})}
	d, err := Open("db", Options{FS: errorfs.Wrap(vfs.NewMem(), fault)})
	require.NoError(t, err)
	defer func() { require.ErrorIs(t, d.Close(), ErrFailed) }()
	big := &UserState{Events: make([]Event, 2000)}
	for i := range big.Events {
		big.Events[i] = Event{ItemID: strings.Repeat("x", 200), TimeMs: int64(i)}
	}
	commit := func(n int) error {
		b := d.NewBatch(0)
		require.NoError(t, b.PutUser(fmt.Sprint("u", n), big))
		return b.Commit(false)
	}
	require.NoError(t, commit(0))
	fault.On()
	for n := 1; ; n++ {
		err := commit(n)
		if err != nil {
			require.ErrorIs(t, err, ErrFailed)
			break
		}
		require.Less(t, n, 100, "commits still succeed after the log's writes fail")
	}
	require.ErrorIs(t, d.Err(), ErrFailed)
}
