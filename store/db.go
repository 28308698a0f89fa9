package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrNotFound is returned by reads of a user or checkpoint the store does
// not hold.
var ErrNotFound = errors.New("store: not found")

// ErrSchema is returned by Open for a store written with another schema
// version.
var ErrSchema = errors.New("store: unsupported schema version")

// ErrFailed is returned by every operation of a store after a disk or
// Pebble error it cannot go on from (see DB.Failed).
var ErrFailed = errors.New("store: failed")

// Options configure Open. The zero value is ready to use.
type Options struct {
	// FS is the file system; nil means the operating system's. Tests pass
	// vfs.NewMem(), or errorfs over it to inject disk faults.
	FS vfs.FS
	// CacheBytes is the size of Pebble's block cache. Default 64 MiB.
	CacheBytes int64
	// OnError, when set, is told of every error Pebble reports: kind
	// "background" (a flush or compaction failed: a full or failing disk),
	// "fatal" (a write to the write-ahead log or the manifest failed) or
	// "slow" (a disk write took more than 5 seconds). Each but "slow"
	// fails the store. It is called from Pebble's goroutines and from
	// the committing one, and must not block.
	OnError func(kind string, err error)
}

// DB is the processor's state: one Pebble database holding the state of
// every partition an instance owns. It is safe for concurrent use; each
// partition's worker writes only its own partition's keys.
//
// A store fails at its first disk or Pebble error (see Options.OnError),
// and stays failed: Failed is closed, and every later operation returns
// ErrFailed. Nothing more is written after the failure, so a restart on
// the same directory resumes from the last batch committed before it.
type DB struct {
	db        *pebble.DB
	closeOnce sync.Once
	closeErr  error
	// closing is set when Close closes Pebble (see walFile.hold);
	// inPebble counts the commits inside Pebble.
	closing  atomic.Bool
	inPebble atomic.Int64

	failOnce sync.Once
	failed   chan struct{}
	failErr  error // set before failed is closed
	onError  func(kind string, err error)
}

// fatalPanic carries a Pebble fatal error from the Logger's Fatalf, which
// must not return, up to the store call that caused it (see recoverFatal).
type fatalPanic struct{ err error }

// fail marks the store failed with err (the first failure wins).
func (d *DB) fail(kind string, err error) {
	if d.onError != nil {
		d.onError(kind, err)
	}
	if kind == "slow" {
		return
	}
	d.failOnce.Do(func() {
		d.failErr = fmt.Errorf("%w: %s error: %w", ErrFailed, kind, err)
		close(d.failed)
	})
}

// Failed is closed when the store fails; Err then says why.
func (d *DB) Failed() <-chan struct{} { return d.failed }

// Err returns nil while the store works, and the failure (wrapping
// ErrFailed) after it has failed.
func (d *DB) Err() error {
	select {
	case <-d.failed:
		return d.failErr
	default:
		return nil
	}
}

// recoverFatal turns a fatalPanic raised by Pebble during a store call
// into that call's error. Other panics go on.
func (d *DB) recoverFatal(err *error) {
	r := recover()
	if r == nil {
		return
	}
	fp, ok := r.(fatalPanic)
	if !ok {
		panic(r)
	}
	*err = d.failure(fp.err)
}

// failure returns the store's failure, with err when it is not the
// failure's cause.
func (d *DB) failure(err error) error {
	failed := d.Err()
	if errors.Is(failed, err) {
		return failed
	}
	return errors.Join(failed, err)
}

// commit commits a Pebble batch, and returns once it is committed or the
// store has failed, whichever comes first; it releases b only in the
// first case.
//
// Pebble panics when a write to its log fails (a NoSync commit's, in
// commitWrite) and leaves its commit pipeline locked: a commit that
// started meanwhile on another goroutine (another partition's) would
// wait for it forever, and so would a commit held up by a write stall on
// a full disk. So the commit runs on a goroutine of its own, whose panic
// fails the store, and the caller waits for it or for the failure: no
// caller is ever stuck on a failed store. (A stuck goroutine is left
// behind; the process is about to exit.)
func (d *DB) commit(b *pebble.Batch, opt *pebble.WriteOptions) error {
	// Counted before the check, so that a failed store's Close sees every
	// commit that may still enter Pebble.
	d.inPebble.Add(1)
	if err := d.Err(); err != nil {
		d.inPebble.Add(-1)
		return errors.Join(err, b.Close())
	}
	done := make(chan error, 1)
	go func() {
		var err error
		defer d.inPebble.Add(-1)
		defer func() {
			if r := recover(); r != nil {
				err = d.panicked(r)
			}
			done <- err
		}()
		err = b.Commit(opt)
	}()
	select {
	case err := <-done:
		if err == nil {
			err = d.Err() // a background failure meanwhile: the caller must stop
		}
		if d.Err() != nil {
			return err // b may be Pebble's to the end: not released
		}
		return errors.Join(err, b.Close())
	case <-d.failed:
		return d.Err()
	}
}

// panicked fails the store with a panic Pebble raised during a commit and
// returns the failure.
func (d *DB) panicked(r any) error {
	if fp, ok := r.(fatalPanic); ok {
		return d.failure(fp.err)
	}
	err, ok := r.(error)
	if !ok {
		err = fmt.Errorf("%v", r)
	}
	err = fmt.Errorf("store: pebble: commit: %w", err)
	d.fail("fatal", err)
	return d.failure(err)
}

// Open opens or creates the store in dir.
func Open(dir string, o Options) (*DB, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	cache := pebble.NewCache(o.CacheBytes)
	defer cache.Unref()
	d := &DB{failed: make(chan struct{}), onError: o.OnError}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	po := &pebble.Options{FS: walWatch{FS: o.FS, d: d}, Cache: cache, Logger: fatalLogger{d}, EventListener: &pebble.EventListener{
		BackgroundError: func(err error) { d.fail("background", err) },
		DiskSlow: func(info pebble.DiskSlowInfo) {
			if info.Duration >= slowDisk {
				d.fail("slow", fmt.Errorf("%s", info))
			}
		},
	}}
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	d.db = db
	if err := d.checkSchema(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return d, nil
}

func (d *DB) checkSchema() error {
	v, closer, err := d.db.Get(schemaKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return d.db.Set(schemaKey, binary.AppendUvarint(nil, schemaVersion), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	got, n := binary.Uvarint(v)
	err = closer.Close()
	if n <= 0 || got != schemaVersion {
		return fmt.Errorf("%w: found %d, this build reads %d", ErrSchema, got, schemaVersion)
	}
	return err
}

// Close closes the store. It is idempotent. Closing a failed store
// returns its failure; Pebble is closed too, as far as it can be after a
// fatal error, to release its files, but Close waits at most closeFailed
// for that.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		if err := d.Err(); err != nil {
			// A commit still inside Pebble may be rotating the log: its
			// file operations are held (walFile.hold) and Pebble's Close
			// would wait for it. Only once no commit is inside may Pebble
			// close the log; a held one never leaves, and then Pebble is
			// given up after closeFailed.
			deadline := time.Now().Add(closeFailed)
			for d.inPebble.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if d.inPebble.Load() > 0 {
				d.closeErr = err
				return
			}
			d.closing.Store(true)
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { _ = recover() }() // a fatalPanic again: nothing more to do
				_ = d.db.Close()                 // its error says no more than the failure
			}()
			select {
			case <-done:
			case <-time.After(time.Until(deadline)): // one closeFailed in all
			}
			d.closeErr = err
			return
		}
		d.closing.Store(true)
		d.closeErr = d.db.Close()
	})
	return d.closeErr
}

// closeFailed bounds how long Close waits for Pebble after a failure.
const closeFailed = 5 * time.Second

// get copies the value of k out of Pebble.
func (d *DB) get(k []byte) (_ []byte, err error) {
	if err := d.Err(); err != nil {
		return nil, err
	}
	defer d.recoverFatal(&err)
	v, closer, err := d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

// User returns the state of a user of a partition, or ErrNotFound.
func (d *DB) User(partition int32, userID string) (*UserState, error) {
	v, err := d.get(userKey(partition, userID))
	if err != nil {
		return nil, fmt.Errorf("store: load user %q of partition %d: %w", userID, partition, err)
	}
	return DecodeUserState(v)
}

// Checkpoint returns a partition's checkpoint, or ErrNotFound for a
// partition the store has never committed.
func (d *DB) Checkpoint(partition int32) (Checkpoint, error) {
	v, err := d.get(checkpointKey(partition))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("store: load checkpoint of partition %d: %w", partition, err)
	}
	return DecodeCheckpoint(v)
}

// Users calls fn for every user of a partition, in user ID order, until fn
// returns false. The state passed to fn is the caller's.
func (d *DB) Users(partition int32, fn func(userID string, s *UserState) bool) (err error) {
	if err := d.Err(); err != nil {
		return err
	}
	defer d.recoverFatal(&err)
	lo, hi := partitionBounds(prefixUser, partition)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("store: iterate users of partition %d: %w", partition, err)
	}
	for it.First(); it.Valid(); it.Next() {
		id, err := parseUserKey(it.Key(), partition)
		if err != nil {
			return errors.Join(err, it.Close())
		}
		s, err := DecodeUserState(it.Value())
		if err != nil {
			return errors.Join(fmt.Errorf("store: user %q: %w", id, err), it.Close())
		}
		if !fn(id, s) {
			break
		}
	}
	return it.Close()
}

// Expiring calls fn, in expiry order, for every user of a partition whose
// session expires at or before untilMs (math.MaxInt64: every entry), until
// fn returns false.
func (d *DB) Expiring(partition int32, untilMs int64, fn func(userID string, expiryMs int64) bool) (err error) {
	if err := d.Err(); err != nil {
		return err
	}
	defer d.recoverFatal(&err)
	lo, _ := partitionBounds(prefixExpiry, partition)
	hi := expiryKey(partition, untilMs+1, "")
	if untilMs == 1<<63-1 {
		_, hi = partitionBounds(prefixExpiry, partition)
	}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("store: iterate expiry of partition %d: %w", partition, err)
	}
	for it.First(); it.Valid(); it.Next() {
		_, ms, id, err := parseExpiryKey(it.Key())
		if err != nil {
			return errors.Join(err, it.Close())
		}
		if !fn(id, ms) {
			break
		}
	}
	return it.Close()
}

// DropPartition deletes every key of a partition: its users, checkpoint and
// expiry index. It is durable when it returns.
func (d *DB) DropPartition(partition int32) (err error) {
	if err := d.Err(); err != nil {
		return err
	}
	defer d.recoverFatal(&err)
	b := d.db.NewBatch()
	for _, p := range []byte{prefixUser, prefixCheckpoint, prefixExpiry} {
		lo, hi := partitionBounds(p, partition)
		if err := b.DeleteRange(lo, hi, nil); err != nil {
			return errors.Join(err, b.Close())
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return errors.Join(fmt.Errorf("store: drop partition %d: %w", partition, err), b.Close())
	}
	return b.Close()
}

// Batch collects the changes of one partition that are committed together:
// the state a poll batch produced and the checkpoint holding the input
// offsets that produced it. Nothing is visible to reads before Commit. A
// Batch is not safe for concurrent use.
type Batch struct {
	d         *DB
	b         *pebble.Batch
	partition int32
	buf       []byte
}

// NewBatch starts a batch of changes to a partition.
func (d *DB) NewBatch(partition int32) *Batch {
	return &Batch{d: d, b: d.db.NewBatch(), partition: partition}
}

// PutUser sets a user's state.
func (b *Batch) PutUser(userID string, s *UserState) error {
	b.buf = AppendUserState(b.buf[:0], s)
	return b.b.Set(userKey(b.partition, userID), b.buf, nil)
}

// DeleteUser deletes a user's state.
func (b *Batch) DeleteUser(userID string) error {
	return b.b.Delete(userKey(b.partition, userID), nil)
}

// SetExpiry moves a user's entry in the expiry index from oldMs to newMs;
// an oldMs or newMs of 0 means no entry.
func (b *Batch) SetExpiry(userID string, oldMs, newMs int64) error {
	if oldMs == newMs {
		return nil
	}
	if oldMs != 0 {
		if err := b.b.Delete(expiryKey(b.partition, oldMs, userID), nil); err != nil {
			return err
		}
	}
	if newMs != 0 {
		return b.b.Set(expiryKey(b.partition, newMs, userID), nil, nil)
	}
	return nil
}

// PutCheckpoint sets the partition's checkpoint.
func (b *Batch) PutCheckpoint(c Checkpoint) error {
	b.buf = AppendCheckpoint(b.buf[:0], c)
	return b.b.Set(checkpointKey(b.partition), b.buf, nil)
}

// Commit writes the batch atomically and releases it. With sync, it returns
// once the write is on stable storage (fsync of the write-ahead log): that
// is what makes the offsets in the checkpoint a promise that survives a
// power cut. Without sync the write survives a crash of the process (it is
// in the OS page cache) but not of the machine; the processor then
// re-applies from the last synced checkpoint, so the state it recovers is
// still exactly-once with respect to its offsets.
//
// A commit after the store has failed writes nothing and returns an error
// wrapping ErrFailed; so does a commit whose write Pebble cannot make.
func (b *Batch) Commit(sync bool) error {
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.d.commit(b.b, opt); err != nil {
		return fmt.Errorf("store: commit batch of partition %d: %w", b.partition, err)
	}
	return nil
}

// Abort discards the batch.
func (b *Batch) Abort() error { return b.b.Close() }

// slowDisk is how long a disk write may take before the store reports it
// (kind "slow"); Pebble reports from 5 s on by default.
const slowDisk = 5 * time.Second

// fatalLogger keeps Pebble's informational logs out of the processor's
// output; errors reach the caller through returned errors and OnError.
// Fatalf, which Pebble calls when a write to its log or manifest failed
// and which must not return, fails the store and panics with a
// fatalPanic: the store call on whose goroutine it happened (a commit)
// recovers it into its error (recoverFatal). On one of Pebble's own
// goroutines nothing recovers it, and the process ends, after OnError.
type fatalLogger struct{ d *DB }

func (fatalLogger) Infof(string, ...any)  {}
func (fatalLogger) Errorf(string, ...any) {}
func (l fatalLogger) Fatalf(format string, args ...any) {
	err := fmt.Errorf("store: pebble: "+format, args...)
	l.d.fail("fatal", err)
	panic(fatalPanic{err})
}

// PutUserEncoded sets a user's state from its encoding, which must be
// AppendUserState's (a changelog record carries it; the caller checks it
// with DecodeUserState where it comes from elsewhere). The batch copies v.
func (b *Batch) PutUserEncoded(userID string, v []byte) error {
	return b.b.Set(userKey(b.partition, userID), v, nil)
}

// Size returns the bytes the batch holds so far, to bound batches built
// from a stream (a changelog restore commits every few megabytes).
func (b *Batch) Size() int { return b.b.Len() }

// Scan calls fn with every key and value the store holds, in key order,
// until fn returns false: all partitions' users, expiry entries and
// checkpoints, the catalogue copy and the schema version. Key and value
// are valid only during the call. It is for audits (what does the store
// still hold of a user?) and tests.
func (d *DB) Scan(fn func(key, value []byte) bool) (err error) {
	if err := d.Err(); err != nil {
		return err
	}
	defer d.recoverFatal(&err)
	it, err := d.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	return it.Close()
}

// Checkpoints returns the checkpoint of every partition the store holds
// one of: the partitions whose state it has.
func (d *DB) Checkpoints() (_ map[int32]Checkpoint, err error) {
	if err := d.Err(); err != nil {
		return nil, err
	}
	defer d.recoverFatal(&err)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixCheckpoint}, UpperBound: []byte{prefixCheckpoint + 1}})
	if err != nil {
		return nil, fmt.Errorf("store: iterate checkpoints: %w", err)
	}
	out := map[int32]Checkpoint{}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != 5 {
			return nil, errors.Join(fmt.Errorf("store: %x is not a checkpoint key", k), it.Close())
		}
		p := int32(binary.BigEndian.Uint32(k[1:]))
		cp, err := DecodeCheckpoint(it.Value())
		if err != nil {
			return nil, errors.Join(fmt.Errorf("store: checkpoint of partition %d: %w", p, err), it.Close())
		}
		out[p] = cp
	}
	return out, it.Close()
}
