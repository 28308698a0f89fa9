package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// The changelog is the consumer group's "<group>-state" topic
// (topics.Changelog): compacted, with the input topics' partition count,
// changelog partition i backing up the state of input partition i. Its
// records:
//
//	key                value
//	user ID            the user's state (store.AppendUserState)
//	"\xffcheckpoint"   the batch's checkpoint (store.AppendCheckpoint): input offsets and watermark
//	"\xffowner"        an owner's claim (JSON, ownerClaim)
//
// The partition's own keys start with 0xff, which no user ID can (user IDs
// are valid UTF-8), so compaction keeps the newest of each: every user's
// last state, the last checkpoint, the last claim.
//
// Each poll batch is one Kafka transaction of its changed users' states
// and then its checkpoint, written by a producer whose transactional ID is
// the partition's ("<group>-state-<partition>"), and committed before the
// batch is committed to the local store. A restore reads with
// read_committed isolation, so it sees whole batches or nothing: a batch
// whose writer died before its commit is aborted and never applied.
//
// Ownership is recorded in the changelog by the transactional ID's
// producer epoch. An instance that takes a partition first initializes the
// partition's transactional producer, which bumps the epoch and aborts
// whatever transaction the previous owner left open, and then commits a
// claim record naming itself. From then on the broker refuses every
// write of an older epoch: a stale owner (paused past its session,
// evicted, on an old generation) is fenced at its next changelog write,
// before its batch is published, and stops the partition. The claim's
// offset is also where the new owner's restore ends: nothing committed
// can come after it but the new owner's own batches.
var (
	checkpointLogKey = []byte("\xffcheckpoint")
	claimLogKey      = []byte("\xffowner")
)

// ownerClaim is the value of a claim record.
type ownerClaim struct {
	// Member is the consumer group member ID of the owner, Generation the
	// group generation it took the partition in.
	Member     string `json:"member"`
	Generation int32  `json:"generation"`
	// Advertise is the owner's query API address, when it has one.
	Advertise string `json:"advertise,omitempty"`
	// ProducerID and ProducerEpoch are the transactional producer's: a
	// write of an older epoch is refused by the brokers.
	ProducerID    int64  `json:"producer_id"`
	ProducerEpoch int16  `json:"producer_epoch"`
	Time          string `json:"time"`
}

// errFenced is the error of a changelog write refused because a newer
// owner has claimed the partition.
var errFenced = errors.New("processor: fenced: a newer owner has claimed the partition's changelog")

// changelogTxnTimeout is the changelog transactions' timeout: a
// transaction left open by a dead owner is aborted by the brokers after
// it, if no new owner has aborted it by then (a standby's reads wait
// behind it).
const changelogTxnTimeout = 30 * time.Second

// stateLog writes one partition's changelog: a transactional producer
// whose transactional ID belongs to the partition. It is used by the
// partition's worker goroutine only.
type stateLog struct {
	topic topics.Topic
	id    int32
	cl    *kgo.Client
}

// openStateLog opens the changelog writer of partition id. It does not
// contact the brokers; claim does.
func openStateLog(brokers []string, sec *topics.Security, group string, id int32) (*stateLog, error) {
	topic := topics.Changelog(group)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.TransactionalID(fmt.Sprintf("%s-%d", topic, id)),
		kgo.TransactionTimeout(changelogTxnTimeout),
		kgo.DefaultProduceTopic(string(topic)),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
	}, sec.KgoOpts()...)...)
	if err != nil {
		return nil, fmt.Errorf("processor: changelog producer of partition %d: %w", id, err)
	}
	return &stateLog{topic: topic, id: id, cl: cl}, nil
}

// Close closes the producer; an open transaction is aborted by the brokers
// (at the next owner's claim, or after changelogTxnTimeout).
func (l *stateLog) Close() { l.cl.Close() }

// claim makes the caller the partition's owner: it initializes the
// producer (fencing the previous owner's and aborting its open
// transaction) and commits a claim record. It returns the claim's offset.
func (l *stateLog) claim(ctx context.Context, c ownerClaim) (int64, error) {
	id, epoch, err := l.cl.ProducerID(ctx)
	if err != nil {
		return 0, l.classify(err)
	}
	c.ProducerID, c.ProducerEpoch = id, epoch
	c.Time = time.Now().UTC().Format(time.RFC3339Nano)
	v, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	return l.txn(ctx, []*kgo.Record{{Key: claimLogKey, Value: v}}, nil)
}

// txn writes recs to the partition in one transaction and returns the
// offset of the last. inside, when not nil, runs once the records are
// acknowledged and before the commit: the batch's publish, so that a
// fenced owner finds out before it publishes, and a batch is published
// before its state is committed (output is at-least-once). When txn
// fails, the transaction is aborted: nothing of it is ever read.
func (l *stateLog) txn(ctx context.Context, recs []*kgo.Record, inside func() error) (int64, error) {
	for _, r := range recs {
		r.Topic, r.Partition = string(l.topic), l.id
	}
	if err := l.cl.BeginTransaction(); err != nil {
		return 0, l.classify(err)
	}
	res := l.cl.ProduceSync(ctx, recs...)
	err := res.FirstErr()
	if err == nil && inside != nil {
		err = inside()
	}
	if err == nil {
		// The commit's outcome must be known: its context is not ctx,
		// which a rebalance ends at any time (kgo: a canceled EndTxn
		// leaves the client in an unknown state).
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), changelogTxnTimeout)
		err = l.cl.EndTransaction(ectx, kgo.TryCommit)
		cancel()
		if err == nil {
			return res[len(res)-1].Record.Offset, nil
		}
	}
	return 0, errors.Join(l.classify(err), l.abort(ctx))
}

// abort ends the open transaction without committing it.
func (l *stateLog) abort(ctx context.Context) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), changelogTxnTimeout)
	defer cancel()
	if err := l.cl.AbortBufferedRecords(actx); err != nil {
		return fmt.Errorf("abort the changelog transaction: %w", err)
	}
	if err := l.cl.EndTransaction(actx, kgo.TryAbort); err != nil {
		return fmt.Errorf("abort the changelog transaction: %w", l.classify(err))
	}
	return nil
}

// classify wraps the errors by which the brokers say a newer producer of
// the partition's transactional ID exists in errFenced.
func (l *stateLog) classify(err error) error {
	if err == nil {
		return nil
	}
	if fenced(err) {
		return fmt.Errorf("%w (changelog %s/%d): %w", errFenced, l.topic, l.id, err)
	}
	return fmt.Errorf("changelog %s/%d: %w", l.topic, l.id, err)
}

// fenced reports whether err says the producer was fenced by a newer one.
func fenced(err error) bool {
	return errors.Is(err, errFenced) || errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.InvalidProducerIDMapping) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// changelogRecords returns a processed batch's changelog records: each
// changed user's state, then the checkpoint.
func changelogRecords(users []userRecord, cp store.Checkpoint) []*kgo.Record {
	recs := make([]*kgo.Record, 0, len(users)+1)
	for _, u := range users {
		recs = append(recs, &kgo.Record{Key: []byte(u.id), Value: u.state})
	}
	cp.Changelog = 0 // a position in the writer's store, not the topic's
	return append(recs, &kgo.Record{Key: checkpointLogKey, Value: store.AppendCheckpoint(nil, cp)})
}

// userRecord is a user's encoded state, as written to the store and the
// changelog.
type userRecord struct {
	id    string
	state []byte
}
