package processor

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// table is the partition table: the store, and the changelog that backs it
// up, for every partition the instance owns or stands by for. It claims and
// restores a partition before its worker reads input (take, restore.go),
// follows the changelog of standby partitions (standby.go), and tells the
// balancer which partitions the store holds (held). Partition workers and
// standbys use it from their own goroutines; each partition's keys are
// written by one of them at a time.
type table struct {
	cfg     *Config
	db      *store.DB
	admin   *topics.Admin
	brokers *outage
	// topic is the group's changelog.
	topic topics.Topic
}

// take makes this instance partition id's owner in gen: it opens the
// partition's changelog writer, claims the partition (fencing the previous
// owner) and restores the store's state of it up to the claim. It returns
// the writer, which the caller closes; nil and no error when ctx ended
// first. An error wrapping errRestart says the partition can be taken
// again if the instance still owns it (another producer claimed it after
// this one).
func (t *table) take(ctx context.Context, gen *kafka.Generation, id int32) (*stateLog, error) {
	log, err := openStateLog(t.cfg.Brokers, t.cfg.Security, t.cfg.Group, id)
	if err != nil {
		return nil, err
	}
	var claimed int64
	var claimErr error
	if err := t.brokers.retry(ctx, "changelog", func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, changelogTxnTimeout)
		defer cancel()
		claimed, claimErr = log.claim(actx, ownerClaim{Member: gen.MemberID, Generation: gen.ID, Advertise: t.cfg.Advertise})
		if fenced(claimErr) {
			return nil // another producer claimed after this one: see below
		}
		return claimErr
	}); err != nil {
		log.Close()
		return nil, nil // the generation or the processor ended
	}
	if claimErr != nil {
		log.Close()
		return nil, fmt.Errorf("%w: %w", errRestart, claimErr)
	}
	if err := t.restore(ctx, id, claimed, log); err != nil {
		log.Close()
		return nil, err
	}
	return log, nil
}

// held returns the partitions whose state the store holds, with the
// changelog position of each (stickyBalancer).
func (t *table) held() map[int32]int64 {
	cps, err := t.db.Checkpoints()
	if err != nil {
		t.cfg.Logger.Warn("list the store's partitions", "err", err)
		return nil
	}
	out := make(map[int32]int64, len(cps))
	for id, cp := range cps {
		out[id] = cp.Changelog
	}
	return out
}
