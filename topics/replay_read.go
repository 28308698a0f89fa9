package topics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// A replay reads a fixed range of offsets of each partition, decided once
// before it starts: from the first record at or after a start time (or the
// log start) up to the end offsets at that moment (or the first record at
// or after an end time). Records written while it runs are not in the
// ranges, so a replay always ends, and ends at the same place however long
// it takes. The offsets come from timestamps through ListOffsets
// ([Admin.OffsetsAt]), so the cut is by record timestamp, which producers
// set to the event time.

// ReplayRange is the offsets [From, To) of one partition of a topic that a
// replay reads.
type ReplayRange struct {
	Topic     Topic
	Partition int32
	// From is the first offset to read; To is one past the last. From ==
	// To is an empty range.
	From, To int64
}

// Len returns the number of offsets in r: the records it holds, less any
// that compaction or retention removed.
func (r ReplayRange) Len() int64 { return max(r.To-r.From, 0) }

// CheckReplay verifies the topics a replay for training reads: clicks,
// purchases and items exist (a *[MissingTopicsError] names those that do
// not), clicks and purchases are co-partitioned (*[PartitionMismatchError])
// and items is compacted (*[NotCompactedError]); and, when models is set,
// the models topic too (exists, compacted). Names take their defaults where
// empty.
func (a *Admin) CheckReplay(ctx context.Context, names Names, models bool) (Layout, error) {
	names = names.WithDefaults()
	which := []Topic{names.Clicks, names.Purchases, names.Items}
	if models {
		which = append(which, names.Models)
	}
	return a.check(ctx, names, which)
}

// ReplayRanges returns, for every partition of topic in partition order,
// the offsets a replay of the records stamped from from until until
// reads: from the first record at or after from (the log start when from
// is zero) up to the end offset at the call, or to the first record at or
// after until when until is not zero and that comes first. The end offsets
// are read first, so that no record written after the call is in a range,
// whatever its timestamp. A missing topic is a *[MissingTopicsError].
func (a *Admin) ReplayRanges(ctx context.Context, topic Topic, from, until time.Time) ([]ReplayRange, error) {
	ends, err := a.EndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	starts, err := a.StartOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	var froms, untils map[int32]int64
	if !from.IsZero() {
		if froms, err = a.OffsetsAt(ctx, topic, from); err != nil {
			return nil, err
		}
	}
	if !until.IsZero() {
		if untils, err = a.OffsetsAt(ctx, topic, until); err != nil {
			return nil, err
		}
	}
	out := make([]ReplayRange, 0, len(ends))
	for _, p := range slices.Sorted(maps.Keys(ends)) {
		r := ReplayRange{Topic: topic, Partition: p, From: starts[p], To: ends[p]}
		if o, ok := froms[p]; ok {
			r.From = max(r.From, o)
		}
		if o, ok := untils[p]; ok {
			r.To = min(r.To, o)
		}
		r.From = min(r.From, r.To)
		out = append(out, r)
	}
	return out, nil
}

// readRangeRetries is how many times in a row ReadRange sends a fetch
// again after one failed before it gives up; a fetch that makes progress
// resets the count.
const readRangeRetries = 5

// readRangeWait is how long one fetch may wait on the broker for records.
// The broker answers at once when it has any; it only waits at the end of
// the log, which a range stops short of.
const readRangeWait = 500 * time.Millisecond

// ReadRange reads the records of r, in offset order, and calls fn with
// each, from the calling goroutine; fn owns the message. It returns nil
// once every record of the range has been read (at once for an empty
// range), fn's first error, ctx's error, or the brokers' after
// readRangeRetries failed fetches in a row (a broker that goes away, a
// leader that moves). Offsets of the range that hold no record a consumer
// gets are skipped: records compaction or retention removed, and the
// markers of transactions. Records past r.To are never passed to fn.
//
// ReadRange sends fetches itself (kafka-go's Client) rather than running a
// Reader: a Reader only learns where a fetch ended from the records it
// delivers, so a range whose last offsets hold no record (an old
// tombstone compacted away at the end of the items topic, a transaction's
// commit marker) would leave it waiting for them forever. A fetch that
// returns nothing although the partition's end is past the offset asked
// says there is nothing left, and ends the range.
func ReadRange(ctx context.Context, brokers []string, r ReplayRange, fn func(kafka.Message) error, opts ...ClientOption) error {
	if r.Len() == 0 {
		return nil
	}
	if len(brokers) == 0 {
		return errors.New("topics: read range: no brokers")
	}
	// A transport of its own, so that its connections close with the
	// range; a short metadata TTL, so that a moved leader is found soon.
	tr := applyOptions(opts).sec.Transport()
	tr.MetadataTTL = time.Second
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: tr}
	next := r.From
	failures := 0
	for {
		if failures > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(failures) * 200 * time.Millisecond):
			}
		}
		before := next
		done, fnErr, err := fetchRange(ctx, cl, r, &next, fn)
		switch {
		case fnErr != nil:
			return fnErr
		case err == nil && done:
			return nil
		case err == nil:
			failures = 0
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, kafka.OffsetOutOfRange):
			return fmt.Errorf("topics: read %s/%d at offset %d: %w (did retention delete records while the replay ran?)",
				r.Topic, r.Partition, next, err)
		}
		if next > before {
			failures = 0
		}
		if failures++; failures > readRangeRetries {
			return fmt.Errorf("topics: read %s/%d at offset %d: %w", r.Topic, r.Partition, next, err)
		}
	}
}

// fetchRange sends one fetch at *next and passes the records before r.To
// that come back to fn, advancing *next past them and past the
// transaction markers among them. done reports that the range holds
// nothing more. fnErr is fn's error, err the fetch's; an empty answer
// while the partition's end is not past *next (a new leader whose high
// watermark has not caught up yet, a truncated log) is an error, so that
// the caller tries again.
func fetchRange(ctx context.Context, cl *kafka.Client, r ReplayRange, next *int64, fn func(kafka.Message) error) (done bool, fnErr, err error) {
	fctx, cancel := context.WithTimeout(ctx, readRangeWait+10*time.Second)
	defer cancel()
	resp, err := cl.Fetch(fctx, &kafka.FetchRequest{Topic: string(r.Topic), Partition: int(r.Partition), Offset: *next,
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: readRangeWait})
	if err != nil {
		return false, nil, err
	}
	if resp.Error != nil {
		return false, nil, resp.Error
	}
	before := *next
	past := false // a record at or past r.To came back
	// The answer holds record batches and control batches (transaction
	// markers, each one offset); a marker is no record for fn, but its
	// offset is read past.
	batches := []protocol.RecordReader{resp.Records}
	if s, ok := resp.Records.(*protocol.RecordStream); ok {
		batches = s.Records
	}
	for _, b := range batches {
		_, control := b.(*protocol.ControlBatch)
		for !past {
			rec, err := b.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return false, nil, err
			}
			m, err := message(r, rec)
			if err != nil {
				return false, nil, err
			}
			switch {
			case m.Offset >= r.To:
				past = true
			case m.Offset < *next:
				// A batch starts where it starts, maybe before the offset
				// asked.
			case control:
				*next = m.Offset + 1
			default:
				*next = m.Offset + 1
				if err := fn(m); err != nil {
					return true, err, nil
				}
			}
		}
	}
	switch {
	case past, *next >= r.To:
		return true, nil, nil
	case *next > before:
		return false, nil, nil
	case resp.HighWatermark > *next:
		// The broker answers at once with whatever lies at or after the
		// offset asked: nothing at all, below its end, means nothing is
		// left.
		return true, nil, nil
	}
	return false, nil, fmt.Errorf("topics: %s/%d ends at %d, before the range's end %d", r.Topic, r.Partition, resp.HighWatermark, r.To)
}

// message copies a fetched record out of the fetch's buffers.
func message(r ReplayRange, rec *protocol.Record) (kafka.Message, error) {
	m := kafka.Message{Topic: string(r.Topic), Partition: int(r.Partition), Offset: rec.Offset, Time: rec.Time, Headers: rec.Headers}
	var err error
	for _, f := range []struct {
		b   protocol.Bytes
		dst *[]byte
	}{{rec.Key, &m.Key}, {rec.Value, &m.Value}} {
		if f.b == nil {
			continue // a null key, or a tombstone's null value
		}
		var e error
		*f.dst, e = protocol.ReadAll(f.b)
		err = errors.Join(err, e, f.b.Close())
	}
	return m, err
}
