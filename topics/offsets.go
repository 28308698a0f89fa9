package topics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// StartOffsets returns the log start offset of every partition of topic:
// the offset of its oldest record still kept (the end offset when the
// partition is empty). The map, partition to offset, is the caller's.
// A missing topic is a *[MissingTopicsError]; a partition that cannot be
// listed fails the call.
func (a *Admin) StartOffsets(ctx context.Context, topic Topic) (map[int32]int64, error) {
	return a.offsets(ctx, topic, "start offsets", a.adm.ListStartOffsets)
}

// EndOffsets returns the end offset (high watermark) of every partition of
// topic: the offset the next record will get. A replay that reads up to
// these offsets has read everything written before the call. Errors as
// [Admin.StartOffsets].
func (a *Admin) EndOffsets(ctx context.Context, topic Topic) (map[int32]int64, error) {
	return a.offsets(ctx, topic, "end offsets", a.adm.ListEndOffsets)
}

// OffsetsAt returns, for every partition of topic, the offset of the first
// record whose timestamp is at or after at, or the end offset when there
// is none: where a replay from time at starts. Record timestamps have
// millisecond precision; at is cut to the millisecond. Errors as
// [Admin.StartOffsets].
func (a *Admin) OffsetsAt(ctx context.Context, topic Topic, at time.Time) (map[int32]int64, error) {
	ms := at.UnixMilli()
	return a.offsets(ctx, topic, "offsets at "+formatTime(at), func(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
		return a.adm.ListOffsetsAfterMilli(ctx, ms, topics...)
	})
}

// offsets lists one topic's offsets with list and checks every partition's
// answer.
func (a *Admin) offsets(
	ctx context.Context,
	topic Topic,
	what string,
	list func(context.Context, ...string) (kadm.ListedOffsets, error),
) (map[int32]int64, error) {
	listed, err := list(ctx, string(topic))
	if err != nil {
		return nil, fmt.Errorf("topics: list %s of %s: %w", what, topic, err)
	}
	ps, ok := listed[string(topic)]
	if !ok || len(ps) == 0 {
		return nil, &MissingTopicsError{Topics: []Topic{topic}}
	}
	if p, ok := ps[-1]; ok && errors.Is(p.Err, kerr.UnknownTopicOrPartition) {
		return nil, &MissingTopicsError{Topics: []Topic{topic}}
	}
	out := make(map[int32]int64, len(ps))
	for _, p := range ps {
		if p.Err != nil {
			return nil, fmt.Errorf("topics: list %s of %s partition %d: %w", what, topic, p.Partition, p.Err)
		}
		out[p.Partition] = p.Offset
	}
	return out, nil
}

// PartitionLag is how far a consumer group is behind on one partition.
type PartitionLag struct {
	// Topic and Partition name the partition.
	Topic     Topic
	Partition int32
	// Committed is the group's committed offset (the next offset it will
	// read), or -1 when it has committed none on this partition.
	Committed int64
	// End is the partition's end offset.
	End int64
	// Lag is the number of records the group has still to read: End -
	// Committed, or End - the log start offset when it has committed
	// nothing. Never negative.
	Lag int64
}

// Lag returns the lag of the consumer group group on every partition of
// topics, sorted by topic then partition; with no topics, on every
// partition the group has committed to or is assigned. A topic the group
// has not consumed yet (no commit, no member) is reported in full:
// Committed -1 and Lag from the log start.
//
// The processor resumes from the offsets in its own store, not from the
// group's commits, and commits only after its store has the batch, so the
// true lag is at most the reported one. A missing topic among topics is a
// *[MissingTopicsError]; a group that cannot be described or fetched, or a
// partition whose offsets cannot be listed, fails the call.
func (a *Admin) Lag(ctx context.Context, group string, topics ...Topic) ([]PartitionLag, error) {
	lags, err := a.adm.Lag(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("topics: lag of group %s: %w", brief(group), err)
	}
	gl, ok := lags[group]
	if !ok {
		return nil, fmt.Errorf("topics: lag of group %s: no answer for the group", brief(group))
	}
	// A group that never existed, or expired, has consumed nothing: newer
	// brokers say so with GROUP_ID_NOT_FOUND, older ones with state Dead.
	if err := gl.Error(); err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("topics: lag of group %s: %w", brief(group), err)
	}
	want := slices.Compact(slices.Sorted(slices.Values(topics)))
	if len(want) == 0 {
		for t := range gl.Lag {
			want = append(want, Topic(t))
		}
	}
	var out []PartitionLag
	for _, t := range want {
		ps, ok := gl.Lag[string(t)]
		if !ok {
			full, err := a.unconsumed(ctx, t)
			if err != nil {
				return nil, fmt.Errorf("topics: lag of group %s: %w", brief(group), err)
			}
			out = append(out, full...)
			continue
		}
		seen := map[int32]bool{}
		for _, p := range ps {
			if p.Err != nil {
				if errors.Is(p.Err, kerr.UnknownTopicOrPartition) {
					return nil, &MissingTopicsError{Topics: []Topic{t}}
				}
				return nil, fmt.Errorf("topics: lag of group %s on %s partition %d: %w", brief(group), t, p.Partition, p.Err)
			}
			seen[p.Partition] = true
			out = append(out, PartitionLag{Topic: t, Partition: p.Partition, Committed: p.Commit.At, End: p.End.Offset, Lag: p.Lag})
		}
		// kadm answers only for the partitions the group has committed or
		// is assigned: with no member alive, a partition never committed
		// is left out. It is unconsumed: all of it is lag.
		full, err := a.unconsumed(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("topics: lag of group %s: %w", brief(group), err)
		}
		for _, pl := range full {
			if !seen[pl.Partition] {
				out = append(out, pl)
			}
		}
	}
	slices.SortFunc(out, func(x, y PartitionLag) int {
		return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.Partition, y.Partition))
	})
	return out, nil
}

// unconsumed returns the lag of a group that has read nothing of topic:
// the whole of every partition.
func (a *Admin) unconsumed(ctx context.Context, t Topic) ([]PartitionLag, error) {
	start, err := a.StartOffsets(ctx, t)
	if err != nil {
		return nil, err
	}
	end, err := a.EndOffsets(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]PartitionLag, 0, len(end))
	for p, e := range end {
		out = append(out, PartitionLag{Topic: t, Partition: p, Committed: -1, End: e, Lag: max(e-start[p], 0)})
	}
	return out, nil
}
