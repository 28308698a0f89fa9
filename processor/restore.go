package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/store"
)

// restoreBatch is the size of the store batches a restore commits: a
// compacted changelog holds one checkpoint for a partition's whole
// history, so a restore cannot wait for it to commit.
const restoreBatch = 4 << 20

// restorer applies changelog records of one partition to the store, in
// offset order. It runs in one of two modes:
//
//   - from scratch (the store held nothing usable of the partition, and
//     dropped it): users are written as they come, their expiry is kept
//     in memory (a map entry per user: its ID and a time), and the
//     expiry index is written once at the end (finish);
//   - from the store's own position: each user's entry in the expiry
//     index moves from its stored state's to its new state's.
//
// It commits every restoreBatch bytes; the checkpoint, with the changelog
// position, only in finish. Before finish, the store holds a mix of
// states, and the partition's checkpoint says where a restore must start
// again: its old position (records applied twice are applied alike, the
// last value of each key wins), or none (from scratch).
type restorer struct {
	db      *store.DB
	z       Sessionizer
	id      int32
	scratch bool

	b *store.Batch
	// expiry holds the expiry of the users written to b, which a read of
	// the store does not see yet (from-position mode), or of every user
	// written (from scratch; 0: none).
	expiry map[string]int64
	// cp is the last checkpoint read, found whether one was.
	cp    store.Checkpoint
	found bool

	records, bytes int
	// pending counts the records and bytes applied to b, reported to the
	// metrics when b commits.
	pendingRecords, pendingBytes int
	metrics                      *Metrics
}

func newRestorer(db *store.DB, z Sessionizer, id int32, scratch bool, m *Metrics) *restorer {
	return &restorer{db: db, z: z.withDefaults(), id: id, scratch: scratch, b: db.NewBatch(id), expiry: map[string]int64{}, metrics: m}
}

// apply applies one changelog record.
func (r *restorer) apply(key, value []byte) error {
	r.records++
	r.bytes += len(key) + len(value)
	r.pendingRecords++
	r.pendingBytes += len(key) + len(value)
	switch {
	case bytes.Equal(key, claimLogKey):
		return nil
	case bytes.Equal(key, checkpointLogKey):
		cp, err := store.DecodeCheckpoint(value)
		if err != nil {
			return fmt.Errorf("changelog checkpoint of partition %d: %w", r.id, err)
		}
		r.cp, r.found = cp, true
		return nil
	}
	id := string(key)
	var s *store.UserState
	if value != nil {
		var err error
		if s, err = store.DecodeUserState(value); err != nil {
			return fmt.Errorf("changelog state of user %q of partition %d: %w", id, r.id, err)
		}
	}
	if r.scratch {
		r.expiry[id] = 0
		if s != nil {
			r.expiry[id] = r.z.ExpiryMs(s)
		}
	} else {
		old, ok := r.expiry[id]
		if !ok {
			prev, err := r.db.User(r.id, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			default:
				old = r.z.ExpiryMs(prev)
			}
		}
		next := int64(0)
		if s != nil {
			next = r.z.ExpiryMs(s)
		}
		if err := r.b.SetExpiry(id, old, next); err != nil {
			return err
		}
		r.expiry[id] = next
	}
	var err error
	if s == nil {
		err = r.b.DeleteUser(id) // a tombstone: the user is gone
	} else {
		err = r.b.PutUserEncoded(id, value)
	}
	if err != nil {
		return err
	}
	if r.b.Size() >= restoreBatch {
		return r.flush(false)
	}
	return nil
}

// flush commits what apply wrote.
func (r *restorer) flush(sync bool) error {
	if err := r.b.Commit(sync); err != nil {
		return err
	}
	r.metrics.appliedChangelog(r.pendingRecords, r.pendingBytes)
	r.pendingRecords, r.pendingBytes = 0, 0
	r.b = r.db.NewBatch(r.id)
	if !r.scratch {
		clear(r.expiry)
	}
	return nil
}

// finish completes the restore: the expiry index (from scratch), and the
// checkpoint with the position next, from which a later restore goes on.
// prev is the checkpoint the store held (from-position mode), used when
// the records applied hold none.
func (r *restorer) finish(next int64, prev store.Checkpoint) error {
	if err := r.flush(false); err != nil {
		return err
	}
	if r.scratch {
		// The index, in batches of about restoreBatch bytes.
		for _, id := range slices.Sorted(maps.Keys(r.expiry)) {
			if err := r.b.SetExpiry(id, 0, r.expiry[id]); err != nil {
				return err
			}
			if r.b.Size() >= restoreBatch {
				if err := r.flush(false); err != nil {
					return err
				}
			}
		}
		r.expiry = nil
	}
	return r.commit(next, prev, true)
}

// commit commits what apply wrote with the checkpoint: the last one read
// (prev when none was), at the changelog position next.
func (r *restorer) commit(next int64, prev store.Checkpoint, sync bool) error {
	cp := prev
	if r.found {
		cp = r.cp
	}
	if cp.Offsets == nil {
		cp = store.Checkpoint{Offsets: map[string]int64{}, WatermarkMs: minWatermark}
	}
	cp.Changelog = next
	if err := r.b.PutCheckpoint(cp); err != nil {
		return err
	}
	return r.flush(sync)
}

// restore makes the store's state of partition id match its changelog up
// to the offset until (the owner's claim, whose own record is the last
// read): from the store's position when it holds a usable one, else from
// the changelog's start, dropping what the store held of the partition
// (checkPosition).
//
// A store written by a version without a changelog (a checkpoint at
// position 0) holds state its changelog lacks: when the changelog holds no
// checkpoint of the partition, the store's state seeds it (log writes it)
// rather than being dropped.
func (t *table) restore(ctx context.Context, id int32, until int64, log *stateLog) error {
	cfg := t.cfg
	start := cfg.Now()
	cfg.Metrics.restoringPartitions(1)
	defer cfg.Metrics.restoringPartitions(-1)
	var logStart int64
	if err := t.brokers.retry(ctx, "admin", func(ctx context.Context) error {
		starts, err := t.admin.StartOffsets(ctx, t.topic)
		logStart = starts[id]
		return err
	}); err != nil {
		return err
	}
	if prev, err := t.db.Checkpoint(id); err == nil && prev.Changelog == 0 && log != nil {
		holds := false
		if err := t.readChangelog(ctx, id, logStart, until, func(k, _ []byte) error {
			holds = holds || bytes.Equal(k, checkpointLogKey)
			return nil
		}); err != nil {
			return err
		}
		if !holds {
			return t.seedChangelog(ctx, id, log, prev)
		}
	}
	if err := t.checkPosition(id, logStart, until); err != nil {
		return err
	}
	prev, err := t.db.Checkpoint(id)
	scratch := errors.Is(err, store.ErrNotFound)
	if err != nil && !scratch {
		return err
	}
	if scratch {
		// Users without a checkpoint: a restore from scratch interrupted.
		if err := t.db.DropPartition(id); err != nil {
			return err
		}
	}
	from := prev.Changelog
	r := newRestorer(t.db, cfg.Sessions, id, scratch, cfg.Metrics)
	if from <= until {
		if err := t.readChangelog(ctx, id, from, until, r.apply); err != nil {
			return errors.Join(err, r.b.Abort())
		}
	}
	if err := r.finish(until+1, prev); err != nil {
		return err
	}
	d := cfg.Now().Sub(start)
	cfg.Metrics.restored(d)
	cfg.Logger.Info("partition restored from the changelog", "partition", id, "from_scratch", scratch, "from", from, "to", until,
		"records", r.records, "bytes", r.bytes, "took", d.Round(time.Millisecond))
	return nil
}

// changelogReader returns a client that reads the committed records of
// partition id of the changelog from offset from on (read_committed: the
// records of aborted transactions are never seen).
func (t *table) changelogReader(id int32, from int64) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(t.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{string(t.topic): {id: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(32 << 20),
	}, t.cfg.Security.KgoOpts()...)...)
	if err != nil {
		return nil, fmt.Errorf("processor: changelog reader of partition %d: %w", id, err)
	}
	return cl, nil
}

// readChangelog calls fn for each committed record of partition id of the
// changelog from offset from to offset until, which must be a committed
// record's.
func (t *table) readChangelog(ctx context.Context, id int32, from, until int64, fn func(key, value []byte) error) error {
	cl, err := t.changelogReader(id, from)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			ferr = err
		})
		if ferr != nil {
			t.brokers.failed("changelog", ferr)
			continue
		}
		done := false
		var aerr error
		fs.EachRecord(func(rec *kgo.Record) {
			if done || aerr != nil || rec.Offset > until {
				return
			}
			aerr = fn(rec.Key, rec.Value)
			done = rec.Offset == until
		})
		if aerr != nil {
			return aerr
		}
		if done {
			return nil
		}
	}
}

// seedBatch is the size of the transactions that seed a changelog.
const seedBatch = 512 << 10

// seedChangelog writes the store's state of partition id to the changelog,
// its users in transactions of about seedBatch bytes and then its
// checkpoint cp, and records the changelog position in the store. Until
// the checkpoint is written the changelog holds no checkpoint of the
// partition, and an interrupted seed is seeded again.
func (t *table) seedChangelog(ctx context.Context, id int32, log *stateLog, cp store.Checkpoint) error {
	var recs []*kgo.Record
	size, users := 0, 0
	var last int64
	var werr error
	flush := func() {
		if werr == nil {
			last, werr = log.txn(ctx, recs, nil)
		}
		recs, size = recs[:0], 0
	}
	if err := t.db.Users(id, func(user string, s *store.UserState) bool {
		v := store.AppendUserState(nil, s)
		recs = append(recs, &kgo.Record{Key: []byte(user), Value: v})
		size += len(user) + len(v)
		users++
		if size >= seedBatch {
			flush()
		}
		return werr == nil
	}); err != nil {
		return err
	}
	recs = append(recs, changelogRecords(nil, cp)...)
	flush()
	if werr != nil {
		return fmt.Errorf("%w: seed the changelog: %w", errRestart, werr)
	}
	cp.Changelog = last + 1
	b := t.db.NewBatch(id)
	if err := b.PutCheckpoint(cp); err != nil {
		return errors.Join(err, b.Abort())
	}
	if err := b.Commit(true); err != nil {
		return err
	}
	t.cfg.Logger.Info("seeded the changelog with the store's state of the partition, written by a version without a changelog",
		"partition", id, "users", users, "position", cp.Changelog)
	return nil
}
