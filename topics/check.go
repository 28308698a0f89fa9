package topics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinels of the layout checks, matched with errors.Is; the errors
// returned are the struct types below, which carry the details.
var (
	// ErrMissingTopic: a topic the system needs does not exist
	// (*[MissingTopicsError]).
	ErrMissingTopic = errors.New("topics: topic does not exist")
	// ErrPartitionMismatch: two topics that must have the same partition
	// count do not (*[PartitionMismatchError]).
	ErrPartitionMismatch = errors.New("topics: partition counts differ")
	// ErrNotCompacted: a topic that must be compacted is not
	// (*[NotCompactedError]).
	ErrNotCompacted = errors.New("topics: topic is not compacted")
)

// Layout is what [Admin.Check] found of the topics.
type Layout struct {
	// Partitions is the partition count of the input topics, clicks and
	// purchases (equal when Check succeeds): the number of partition
	// workers, and the partition count the changelog must have.
	Partitions int32
	// Topics holds each topic of the Names checked that exists.
	Topics map[Topic]TopicInfo
}

// TopicInfo describes one topic.
type TopicInfo struct {
	// Partitions is the partition count.
	Partitions int32
	// ReplicationFactor is the replica count of partition 0.
	ReplicationFactor int16
	// CleanupPolicy is the topic's cleanup.policy: "delete", "compact" or
	// "compact,delete".
	CleanupPolicy string
}

// Compacted reports whether the cleanup policy includes compaction.
func (i TopicInfo) Compacted() bool {
	for p := range strings.SplitSeq(i.CleanupPolicy, ",") {
		if strings.TrimSpace(p) == policyCompact {
			return true
		}
	}
	return false
}

// Check verifies the topics of names (empty names take their defaults),
// as the processor does before it starts:
//
//   - every topic exists, else a *[MissingTopicsError] naming the missing
//     ones;
//   - clicks, purchases and erasures have the same partition count, else
//     a *[PartitionMismatchError]: a user's clicks, purchases and erasure
//     requests must land in the same partition number to reach the same
//     partition worker;
//   - recommendations, items and models are compacted, else a
//     *[NotCompactedError] for each.
//
// Every problem found is returned, joined. The Layout holds what was found
// even then (topics that exist, and Partitions when clicks exists).
func (a *Admin) Check(ctx context.Context, names Names) (Layout, error) {
	names = names.WithDefaults()
	return a.check(ctx, names, names.All())
}

// CheckStream is Check of the topics the stream processor reads and writes
// (clicks, purchases, recommendations and the dead-letter topic), leaving
// out the catalogue and model topics.
func (a *Admin) CheckStream(ctx context.Context, names Names) (Layout, error) {
	names = names.WithDefaults()
	return a.check(ctx, names, []Topic{names.Clicks, names.Purchases, names.Recommendations, names.DeadLetters})
}

func (a *Admin) check(ctx context.Context, names Names, which []Topic) (Layout, error) {
	if err := names.Validate(); err != nil {
		return Layout{}, err
	}
	infos, err := a.describe(ctx, which)
	var missing *MissingTopicsError
	if err != nil && !errors.As(err, &missing) {
		return Layout{}, err
	}
	l := Layout{Topics: infos}
	var errs []error
	if missing != nil {
		errs = append(errs, missing)
	}
	clicks, okc := infos[names.Clicks]
	purchases, okp := infos[names.Purchases]
	if okc {
		l.Partitions = clicks.Partitions
	}
	if okc && okp && clicks.Partitions != purchases.Partitions {
		errs = append(errs, &PartitionMismatchError{
			Topic: names.Clicks, Partitions: clicks.Partitions,
			Other: names.Purchases, OtherPartitions: purchases.Partitions,
		})
	}
	if erasures, ok := infos[names.Erasures]; okc && ok && clicks.Partitions != erasures.Partitions {
		errs = append(errs, &PartitionMismatchError{
			Topic: names.Clicks, Partitions: clicks.Partitions,
			Other: names.Erasures, OtherPartitions: erasures.Partitions,
		})
	}
	for _, t := range []Topic{names.Recommendations, names.Items, names.Models} {
		if info, ok := infos[t]; ok && !info.Compacted() {
			errs = append(errs, &NotCompactedError{Topic: t, Policy: info.CleanupPolicy})
		}
	}
	return l, errors.Join(errs...)
}

// describe returns the partitions, replication and cleanup policy of each
// topic that exists, and a *MissingTopicsError (with the others' infos)
// when some do not. Any other per-topic error fails the call.
func (a *Admin) describe(ctx context.Context, topics []Topic) (map[Topic]TopicInfo, error) {
	names := topicStrings(topics)
	details, err := a.adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("topics: list %s: %w", strings.Join(names, ", "), err)
	}
	infos := make(map[Topic]TopicInfo, len(topics))
	var missing []Topic
	var errs []error
	for _, t := range topics {
		d, ok := details[string(t)]
		switch {
		case !ok, errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
			continue
		case d.Err != nil:
			errs = append(errs, fmt.Errorf("topics: list %s: %w", t, d.Err))
			continue
		}
		infos[t] = TopicInfo{
			Partitions:        int32(len(d.Partitions)),
			ReplicationFactor: int16(len(d.Partitions[0].Replicas)),
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(infos) > 0 {
		if err := a.describePolicies(ctx, infos); err != nil {
			return nil, err
		}
	}
	if len(missing) > 0 {
		return infos, &MissingTopicsError{Topics: missing}
	}
	return infos, nil
}

// describePolicies fills in the CleanupPolicy of every topic in infos.
func (a *Admin) describePolicies(ctx context.Context, infos map[Topic]TopicInfo) error {
	topics := sortedTopics(infos)
	rcs, err := a.adm.DescribeTopicConfigs(ctx, topicStrings(topics)...)
	if err != nil {
		return fmt.Errorf("topics: describe configs of %s: %w", strings.Join(topicStrings(topics), ", "), err)
	}
	for _, t := range topics {
		rc, err := rcs.On(string(t), nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return fmt.Errorf("topics: describe configs of %s: %w%s", t, err, detail(rc.ErrMessage))
		}
		info := infos[t]
		info.CleanupPolicy = "delete" // Kafka's default, should the broker not say
		for _, c := range rc.Configs {
			if c.Key == cleanupPolicy && c.Value != nil {
				info.CleanupPolicy = *c.Value
			}
		}
		infos[t] = info
	}
	return nil
}

// MissingTopicsError reports topics that do not exist. It matches
// [ErrMissingTopic] with errors.Is.
type MissingTopicsError struct {
	// Topics are the missing topics, in the order they were asked for.
	Topics []Topic
}

// Error returns "topics: topic T does not exist: ..." or, for several,
// "topics: topics T1, T2 do not exist: ...".
func (e *MissingTopicsError) Error() string {
	const hint = ": create them first (Admin.Create, or Admin.CreateChangelog for a changelog)"
	if len(e.Topics) == 1 {
		return fmt.Sprintf("topics: topic %s does not exist%s", e.Topics[0], hint)
	}
	return fmt.Sprintf("topics: topics %s do not exist%s", strings.Join(topicStrings(e.Topics), ", "), hint)
}

// Is reports whether target is [ErrMissingTopic].
func (e *MissingTopicsError) Is(target error) bool { return target == ErrMissingTopic }

// PartitionMismatchError reports a topic whose partition count differs
// from the one it must have. It matches [ErrPartitionMismatch] with
// errors.Is.
type PartitionMismatchError struct {
	// Topic has Partitions partitions.
	Topic      Topic
	Partitions int32
	// Other, with OtherPartitions partitions, is the topic Topic must be
	// co-partitioned with; for a changelog, Other is "" and
	// OtherPartitions is the input topics' count.
	Other           Topic
	OtherPartitions int32
}

// Error says which counts differ and why they must not.
func (e *PartitionMismatchError) Error() string {
	if e.Other == "" {
		return fmt.Sprintf("topics: changelog %s has %d partitions, want %d, one per input partition: "+
			"changelog partition i holds the state of input partition i; "+
			"use a new consumer group, or recreate the changelog with %d partitions",
			e.Topic, e.Partitions, e.OtherPartitions, e.OtherPartitions)
	}
	return fmt.Sprintf("topics: %s has %d partitions and %s %d: they must be co-partitioned (same count), "+
		"so that a user's events on both land in the same partition number and reach the same processor; "+
		"add partitions to the smaller (before producing to it: keys move when the count changes)",
		e.Topic, e.Partitions, e.Other, e.OtherPartitions)
}

// Is reports whether target is [ErrPartitionMismatch].
func (e *PartitionMismatchError) Is(target error) bool { return target == ErrPartitionMismatch }

// NotCompactedError reports a topic that must be compacted and is not. It
// matches [ErrNotCompacted] with errors.Is.
type NotCompactedError struct {
	// Topic is the topic.
	Topic Topic
	// Policy is its cleanup.policy.
	Policy string
}

// Error names the topic and its policy.
func (e *NotCompactedError) Error() string {
	return fmt.Sprintf("topics: %s has cleanup.policy %q, want compact: it keeps the latest value of every key, "+
		"and retention would delete them; set cleanup.policy=compact on it", e.Topic, e.Policy)
}

// Is reports whether target is [ErrNotCompacted].
func (e *NotCompactedError) Is(target error) bool { return target == ErrNotCompacted }
