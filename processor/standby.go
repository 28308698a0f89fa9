package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// A standby replica is a partition this instance does not own whose
// changelog it follows into its store, so that if it takes the partition
// (its owner crashed or left) its restore reads only the changelog's tail.
// Config.Standby says how many an instance keeps. It picks them each
// generation from the group's assignment: walking the other members in
// member ID order from its own place, it takes their partitions until it
// has Standby; so with two instances each stands by for the other. Its
// store then holds the partitions (memberData.Held), and the sticky
// balancer gives a dead member's partitions to the instances whose
// stores are the most up to date.
//
// A follower applies what the owner commits (read_committed) as a restore
// does from the store's position, and records its position after every
// fetch. It stops with the generation, before any partition changes hands
// on this instance.

// standbyPartitions returns the partitions this instance follows in gen:
// up to cfg.Standby of the other members' partitions.
func (t *table) standbyPartitions(ctx context.Context, gen *kafka.Generation) ([]int32, error) {
	if t.cfg.Standby <= 0 {
		return nil, nil
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	members, err := t.admin.GroupMembers(actx, t.cfg.Group)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(members, func(a, b topics.GroupMember) int { return strings.Compare(a.ID, b.ID) })
	me := slices.IndexFunc(members, func(m topics.GroupMember) bool { return m.ID == gen.MemberID })
	if me < 0 {
		return nil, fmt.Errorf("member %s is not in the group's description", gen.MemberID)
	}
	var out []int32
	for k := 1; k < len(members) && len(out) < t.cfg.Standby; k++ {
		theirs := slices.Sorted(slices.Values(members[(me+k)%len(members)].Assigned[t.cfg.Names.Clicks]))
		out = append(out, theirs[:min(len(theirs), t.cfg.Standby-len(out))]...)
	}
	return out, nil
}

// standby follows partition id's changelog into the store until ctx ends.
// It returns only then: a function of the generation that returns ends
// the generation (kafka-go), so its failures are logged and retried.
func (t *table) standby(ctx context.Context, id int32) {
	cfg := t.cfg
	if cp, err := t.db.Checkpoint(id); err == nil && cp.Changelog == 0 {
		// State written by a version without a changelog: its owner
		// seeds the changelog with it (restore), which checkPosition
		// would drop. Leave it be.
		cfg.Logger.Info("standby replica: the store holds the partition's state from before changelogs; left for its owner to seed the changelog with", "partition", id)
		<-ctx.Done()
		return
	}
	cfg.Metrics.standbyPartitions(1)
	defer cfg.Metrics.standbyPartitions(-1)
	var b backoff
	for ctx.Err() == nil {
		err := t.followChangelog(ctx, id)
		if ctx.Err() != nil {
			return
		}
		cfg.Logger.Warn("standby replica: following the changelog failed; again after a backoff", "partition", id, "err", err)
		if errors.Is(err, store.ErrFailed) {
			<-ctx.Done() // the health watch ends Run
			return
		}
		b.wait(ctx)
	}
}

// followChangelog applies partition id's changelog to the store from the store's
// position (or the start, dropping what the store holds, when its
// position is not within the changelog), recording the position after
// each fetch, until ctx ends or an error.
func (t *table) followChangelog(ctx context.Context, id int32) error {
	cfg := t.cfg
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	starts, err := t.admin.StartOffsets(actx, t.topic)
	if err == nil {
		var ends map[int32]int64
		ends, err = t.admin.EndOffsets(actx, t.topic)
		if err == nil {
			err = t.checkPosition(id, starts[id], ends[id]-1)
		}
	}
	cancel()
	if err != nil {
		return err
	}
	prev, err := t.db.Checkpoint(id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	cl, err := t.changelogReader(id, prev.Changelog)
	if err != nil {
		return err
	}
	defer cl.Close()
	cfg.Logger.Info("standby replica: following the changelog", "partition", id, "from", prev.Changelog)
	r := newRestorer(t.db, cfg.Sessions, id, false, cfg.Metrics)
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), r.b.Abort())
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return errors.Join(ferr, r.b.Abort())
		}
		next := int64(-1)
		var aerr error
		fs.EachRecord(func(rec *kgo.Record) {
			if aerr == nil {
				aerr = r.apply(rec.Key, rec.Value)
				next = rec.Offset + 1
			}
		})
		if aerr != nil {
			return errors.Join(aerr, r.b.Abort())
		}
		if next >= 0 {
			if err := r.commit(next, prev, false); err != nil {
				return err
			}
		}
	}
}

// checkPosition drops the store's state of partition id when its
// changelog position is not within [start, end+1] of the changelog: state
// of another history (a changelog deleted and created again), or a
// position compaction or deletion has passed. A store without a position
// of the partition is left alone: it holds nothing of it.
func (t *table) checkPosition(id int32, start, end int64) error {
	cp, err := t.db.Checkpoint(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cp.Changelog > 0 && cp.Changelog >= start && cp.Changelog <= end+1 {
		return nil
	}
	t.cfg.Logger.Warn("the store's state of the partition is not a prefix of its changelog: dropping it",
		"partition", id, "store_position", cp.Changelog, "changelog_start", start, "changelog_end", end+1)
	return t.db.DropPartition(id)
}
