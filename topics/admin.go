package topics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Admin creates and verifies the topics and reads their offsets, through
// franz-go's kadm. It is safe for concurrent use. Every method that talks
// to Kafka takes a context and checks the per-topic and per-partition
// errors of the responses, not only the call's.
type Admin struct {
	adm       *kadm.Client
	cl        *kgo.Client
	brokers   []string
	sec       *Security
	closeOnce sync.Once
}

// NewAdmin returns an Admin for the cluster reachable at brokers (host:port
// seeds; one is enough). It does not connect: the first request does, and
// an unreachable cluster surfaces there. Close it when done.
func NewAdmin(brokers []string, opts ...ClientOption) (*Admin, error) {
	if len(brokers) == 0 {
		return nil, errors.New("topics: new admin: no brokers")
	}
	o := applyOptions(opts)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		// kadm answers ListTopics from the client's metadata cache, which
		// by default may be 5s old: a topic created a moment ago would
		// look missing, a partition count just raised would look old.
		// An admin client makes few requests; fresh answers matter more.
		kgo.MetadataMinAge(100 * time.Millisecond),
	}, o.sec.KgoOpts()...)...)
	if err != nil {
		return nil, fmt.Errorf("topics: new admin for %s: %w", strings.Join(brokers, ","), err)
	}
	return &Admin{adm: kadm.NewClient(cl), cl: cl, brokers: brokers, sec: o.sec}, nil
}

// Close closes the connections. It is idempotent; the Admin must not be
// used after it.
func (a *Admin) Close() {
	a.closeOnce.Do(a.adm.Close)
}

// Defaults of TopicConfig.
const (
	// DefaultPartitions is the default [TopicConfig.Partitions].
	DefaultPartitions = 4
	// DefaultReplicationFactor is the default
	// [TopicConfig.ReplicationFactor].
	DefaultReplicationFactor = 1
	// CatalogPartitions is the partition count of the items and models
	// topics. Every instance reads them whole, so more partitions buy
	// nothing, and one keeps a model's chunks and manifest in order.
	CatalogPartitions = 1
)

// TopicConfig is how [Admin.Create] creates the topics. The zero value of
// a field means its default.
type TopicConfig struct {
	// Partitions is the partition count of clicks, purchases,
	// recommendations and the dead-letter topic: the most processor
	// instances that can share the work. 0 means [DefaultPartitions] (4).
	Partitions int32
	// ReplicationFactor is the replica count of every topic. 0 means
	// [DefaultReplicationFactor] (1, for a single broker); -1 means the
	// broker's default.replication.factor.
	ReplicationFactor int16
}

func (c TopicConfig) withDefaults() (TopicConfig, error) {
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = DefaultReplicationFactor
	}
	if c.Partitions < 1 {
		return c, fmt.Errorf("topics: %d partitions: want at least 1", c.Partitions)
	}
	if c.ReplicationFactor < -1 {
		return c, fmt.Errorf("topics: replication factor %d: want at least 1, or -1 for the broker's default", c.ReplicationFactor)
	}
	return c, nil
}

// Topic configs set at creation.
const (
	cleanupPolicy = "cleanup.policy"
	policyCompact = "compact"
)

// topicSpec is one CreateTopics request: topics that share a partition
// count and configs.
type topicSpec struct {
	partitions int32
	configs    map[string]*string
	topics     []Topic
}

// Create creates the topics of names (empty names take their defaults):
//
//   - clicks, purchases: cfg.Partitions each, the broker's default
//     cleanup (delete after its retention);
//   - erasures: the partitions of clicks (cfg.Partitions, or an existing
//     clicks topic's count), the broker's default cleanup;
//   - recommendations: cfg.Partitions, cleanup.policy=compact;
//   - dead letters: cfg.Partitions, the broker's default cleanup;
//   - items, models: [CatalogPartitions], cleanup.policy=compact.
//
// Every topic gets cfg.ReplicationFactor replicas. The changelog of a
// consumer group is created by [Admin.CreateChangelog].
//
// Create is idempotent: a topic that already exists is left as it is,
// whatever its partitions and configs; run [Admin.Check] to verify them.
// Any other per-topic error is returned (all of them, joined). On success
// Create returns once every topic is in the cluster's metadata with a
// leader for each partition, so that a Check or a producer that follows
// finds them.
func (a *Admin) Create(ctx context.Context, names Names, cfg TopicConfig) error {
	names = names.WithDefaults()
	if err := names.Validate(); err != nil {
		return err
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	compact := map[string]*string{cleanupPolicy: kadm.StringPtr(policyCompact)}
	specs := []topicSpec{
		{cfg.Partitions, nil, []Topic{names.Clicks, names.Purchases, names.DeadLetters}},
		{cfg.Partitions, compact, []Topic{names.Recommendations}},
		{CatalogPartitions, compact, []Topic{names.Items, names.Models}},
	}
	var errs []error
	for _, s := range specs {
		errs = append(errs, a.create(ctx, s, cfg.ReplicationFactor))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Erasures with the partition count clicks has, which an existing
	// clicks topic decides.
	if err := a.waitReady(ctx, []Topic{names.Clicks}); err != nil {
		return err
	}
	infos, err := a.describe(ctx, []Topic{names.Clicks})
	if err != nil {
		return err
	}
	if err := a.create(ctx, topicSpec{infos[names.Clicks].Partitions, nil, []Topic{names.Erasures}}, cfg.ReplicationFactor); err != nil {
		return err
	}
	return a.waitReady(ctx, names.All())
}

// CreateChangelog creates the changelog topic of the consumer group group
// ([Changelog]: "<group>-state"), compacted, with partitions partitions:
// exactly the partition count of the input topics (see [Layout]), since
// changelog partition i backs up the state of input partition i. It gets
// the broker's default replication factor (default.replication.factor),
// which a production cluster sets above 1: the changelog is the state's
// only copy off the processor's disk.
//
// It is idempotent, and strict about an existing changelog: it checks the
// topic as [Admin.CheckChangelog] does, so one with another partition
// count is a *[PartitionMismatchError] and one that is not compacted a
// *[NotCompactedError], since either would lose or misplace state. On
// success it returns once the topic is usable.
func (a *Admin) CreateChangelog(ctx context.Context, group string, partitions int32) error {
	t, err := changelogOf(group, partitions)
	if err != nil {
		return err
	}
	spec := topicSpec{partitions, map[string]*string{cleanupPolicy: kadm.StringPtr(policyCompact)}, []Topic{t}}
	if err := a.create(ctx, spec, -1); err != nil {
		return err
	}
	if err := a.waitReady(ctx, []Topic{t}); err != nil {
		return err
	}
	_, err = a.checkChangelog(ctx, t, partitions)
	return err
}

// CreateErasures creates the erasures topic of names when it is missing,
// with partitions partitions (the input topics' count, [Layout]) and the
// broker's default cleanup and replication, and checks it: an erasures
// topic with another partition count is a *[PartitionMismatchError],
// since a request must reach the partition worker that holds its user.
// The processor calls it at start, so that a deployment whose topics
// predate erasures gets the topic.
func (a *Admin) CreateErasures(ctx context.Context, names Names, partitions int32) error {
	names = names.WithDefaults()
	t := names.Erasures
	if err := t.Validate(); err != nil {
		return err
	}
	if partitions < 1 {
		return fmt.Errorf("topics: erasures %s: %d partitions: want at least 1", t, partitions)
	}
	if err := a.create(ctx, topicSpec{partitions, nil, []Topic{t}}, -1); err != nil {
		return err
	}
	if err := a.waitReady(ctx, []Topic{t}); err != nil {
		return err
	}
	infos, err := a.describe(ctx, []Topic{t})
	if err != nil {
		return err
	}
	if got := infos[t].Partitions; got != partitions {
		return &PartitionMismatchError{Topic: t, Partitions: got, Other: names.Clicks, OtherPartitions: partitions}
	}
	return nil
}

// CheckChangelog verifies the changelog topic of the consumer group group
// ([Changelog]) without creating or changing anything:
//
//   - it exists, else a *[MissingTopicsError];
//   - it has partitions partitions, the input topics' count
//     ([Layout.Partitions]), else a *[PartitionMismatchError];
//   - it is compacted, else a *[NotCompactedError].
//
// Both of the last two are returned, joined, when both hold. The TopicInfo
// is what was found of the changelog: the zero TopicInfo when it does not
// exist.
func (a *Admin) CheckChangelog(ctx context.Context, group string, partitions int32) (TopicInfo, error) {
	t, err := changelogOf(group, partitions)
	if err != nil {
		return TopicInfo{}, err
	}
	return a.checkChangelog(ctx, t, partitions)
}

// changelogOf returns the changelog of group, after checking that its
// name is legal and partitions is at least 1.
func changelogOf(group string, partitions int32) (Topic, error) {
	t := Changelog(group)
	if err := t.Validate(); err != nil {
		return "", fmt.Errorf("topics: changelog of group %s: %w", brief(group), err)
	}
	if partitions < 1 {
		return "", fmt.Errorf("topics: changelog %s: %d partitions: want at least 1", t, partitions)
	}
	return t, nil
}

func (a *Admin) checkChangelog(ctx context.Context, t Topic, partitions int32) (TopicInfo, error) {
	infos, err := a.describe(ctx, []Topic{t})
	if err != nil {
		return TopicInfo{}, err
	}
	info := infos[t]
	var errs []error
	if info.Partitions != partitions {
		errs = append(errs, &PartitionMismatchError{Topic: t, Partitions: info.Partitions, OtherPartitions: partitions})
	}
	if !info.Compacted() {
		errs = append(errs, &NotCompactedError{Topic: t, Policy: info.CleanupPolicy})
	}
	return info, errors.Join(errs...)
}

// create issues one CreateTopics request and checks each topic's answer:
// created and already-existing topics are fine.
func (a *Admin) create(ctx context.Context, s topicSpec, replicationFactor int16) error {
	names := topicStrings(s.topics)
	resps, err := a.adm.CreateTopics(ctx, s.partitions, replicationFactor, s.configs, names...)
	if err != nil {
		return fmt.Errorf("topics: create %s: %w", strings.Join(names, ", "), err)
	}
	var errs []error
	for _, n := range names {
		r, ok := resps[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topics: create %s: no answer for the topic", n))
		case r.Err == nil, errors.Is(r.Err, kerr.TopicAlreadyExists):
		default:
			errs = append(errs, fmt.Errorf("topics: create %s: %w%s", n, r.Err, detail(r.ErrMessage)))
		}
	}
	return errors.Join(errs...)
}

// readyTimeout bounds how long Create waits for new topics to show up in
// the metadata of the broker it asks, when ctx has no earlier deadline.
const readyTimeout = 30 * time.Second

// waitReady waits until every topic is in the metadata with a leader for
// each partition. Brokers learn of a new topic from the controller a
// moment after CreateTopics returns, so a metadata request sent at once
// may not see it yet.
func (a *Admin) waitReady(ctx context.Context, topics []Topic) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	names := topicStrings(topics)
	wait := 10 * time.Millisecond
	for {
		details, err := a.adm.ListTopics(ctx, names...)
		var pending string
		if err != nil {
			pending = err.Error()
		} else {
			pending = notReady(details, names)
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics: waiting for %s to be ready (%s): %w", strings.Join(names, ", "), pending, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// notReady says which of names is not ready in details, or "".
func notReady(details kadm.TopicDetails, names []string) string {
	for _, n := range names {
		d, ok := details[n]
		switch {
		case !ok:
			return n + " not listed"
		case d.Err != nil:
			return fmt.Sprintf("%s: %v", n, d.Err)
		case len(d.Partitions) == 0:
			return n + " has no partitions yet"
		}
		for _, p := range d.Partitions.Sorted() {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Sprintf("%s partition %d has no leader yet", n, p.Partition)
			}
		}
	}
	return ""
}

func topicStrings(ts []Topic) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// detail formats a broker's error message as a suffix, or "" for none.
func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// sortedTopics returns the keys of m, sorted.
func sortedTopics[V any](m map[Topic]V) []Topic {
	out := make([]Topic, 0, len(m))
	for t := range m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
