package processor

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/topics"
)

// follow reads every partition of a topic outside the consumer group, as
// every instance reads the compacted items and models topics whole: from
// the offset from gives for each partition (nil, or not found: its start), calling
// apply for each record, one at a time, in offset order within a
// partition. Once every partition has been read up to the end offsets it
// had when follow started, caughtUp is called (at once for an empty
// topic). follow returns nil when ctx ends, or the first error of apply
// or of a reader.
//
// The catch-up reads fixed ranges with topics.ReadRange, which knows a
// range is done when a fetch comes back empty short of its end: on a
// compacted topic the last offsets may hold no record (a tombstone
// compacted away), and waiting for a record at end-1 would never end.
// Then kafka-go readers follow from the end offsets.
func (v *views) follow(ctx context.Context, topic topics.Topic, from func(part int32) (int64, bool, error),
	apply func(kafka.Message) error, caughtUp func()) error {
	firsts, ends, err := v.offsetRange(ctx, topic)
	if err != nil {
		return nil // ctx ended
	}
	next := map[int32]int64{}
	for _, part := range slices.Sorted(maps.Keys(ends)) {
		start := firsts[part]
		if from != nil {
			o, ok, err := from(part)
			if err != nil {
				return err
			}
			if ok {
				start = max(start, o)
			}
		}
		r := topics.ReplayRange{Topic: topic, Partition: part, From: start, To: ends[part]}
		if err := v.readRange(ctx, r, apply); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("follow %s/%d: catch up: %w", topic, part, err)
		}
		next[part] = max(r.From, r.To)
	}
	caughtUp()

	rctx, stop := context.WithCancel(ctx)
	var readers sync.WaitGroup
	defer func() {
		stop() // before the wait: a failed apply must end the readers
		readers.Wait()
	}()
	msgs := make(chan kafka.Message, 64)
	for part := range ends {
		readers.Go(func() { v.followPartition(rctx, topic, part, next[part], msgs) })
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-msgs:
			if err := apply(m); err != nil {
				return err
			}
		}
	}
}

// offsetRange returns the start and end offsets of every partition of a
// topic, asking until the brokers answer; the error is ctx's.
func (v *views) offsetRange(ctx context.Context, topic topics.Topic) (firsts, ends map[int32]int64, err error) {
	err = v.brokers.retry(ctx, "admin", func(ctx context.Context) (err error) {
		if ends, err = v.admin.EndOffsets(ctx, topic); err != nil {
			return err
		}
		firsts, err = v.admin.StartOffsets(ctx, topic)
		return err
	})
	return firsts, ends, err
}

// followPartition sends the records of a partition from offset on to msgs
// until ctx ends. A reader that fails (a broker restarting, an outage) is
// closed and a new one started, with backoff, after the last record sent:
// none is lost or sent twice, and the outage is reported (the health
// watch bounds it).
func (v *views) followPartition(ctx context.Context, topic topics.Topic, part int32, offset int64, msgs chan<- kafka.Message) {
	var b backoff
	for ctx.Err() == nil {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: v.cfg.Brokers, Dialer: v.cfg.Security.Dialer(), Topic: string(topic), Partition: int(part),
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: readerMaxWait, ReadLagInterval: -1})
		if err := r.SetOffset(offset); err != nil {
			// Not read from where it should: closed unread, tried again.
			v.brokers.failed("read", fmt.Errorf("follow %s/%d from %d: %w", topic, part, offset, err))
			_ = r.Close() // unread: its close error says nothing more
			b.wait(ctx)
			continue
		}
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					v.brokers.failed("read", fmt.Errorf("follow %s/%d: %w", topic, part, err))
				}
				break
			}
			b.reset()
			select {
			case msgs <- m:
				offset = m.Offset + 1
			case <-ctx.Done():
			}
		}
		_ = r.Close() // a failed reader's close error says nothing more
		b.wait(ctx)
	}
}

// readRange reads a fixed range with topics.ReadRange, calling apply for
// each record. A broker error is retried with backoff from the record
// after the last one applied, until ctx ends: an outage during a catch-up
// is ridden through like any other. An error of apply ends it.
func (v *views) readRange(ctx context.Context, r topics.ReplayRange, apply func(kafka.Message) error) error {
	var b backoff
	for {
		var applyErr error
		err := topics.ReadRange(ctx, v.cfg.Brokers, r, func(m kafka.Message) error {
			if err := apply(m); err != nil {
				applyErr = err
				return err
			}
			r.From = m.Offset + 1
			return nil
		}, topics.WithSecurity(v.cfg.Security))
		if err == nil {
			return nil
		}
		if applyErr != nil || ctx.Err() != nil {
			return err
		}
		v.brokers.failed("read", err)
		if !b.wait(ctx) {
			return ctx.Err()
		}
	}
}
