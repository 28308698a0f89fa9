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
func (p *Processor) follow(ctx context.Context, topic topics.Topic, from func(part int32) (int64, bool, error),
	apply func(kafka.Message) error, caughtUp func()) error {
	ends, err := p.admin.EndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	firsts, err := p.admin.StartOffsets(ctx, topic)
	if err != nil {
		return err
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
		if err := topics.ReadRange(ctx, p.cfg.Brokers, r, apply); err != nil {
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
	errs := make(chan error, len(ends))
	for part := range ends {
		start := next[part]
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: p.cfg.Brokers, Topic: string(topic), Partition: int(part),
			MinBytes: 1, MaxBytes: 16 << 20, MaxWait: readerMaxWait, ReadLagInterval: -1})
		if err := r.SetOffset(start); err != nil {
			return fmt.Errorf("follow %s/%d from %d: %w", topic, part, start, err)
		}
		readers.Go(func() {
			defer func() { _ = r.Close() }() // a reader's close error is of no use once it stops
			for {
				m, err := r.FetchMessage(rctx)
				if err != nil {
					if rctx.Err() == nil {
						errs <- fmt.Errorf("follow %s/%d: %w", topic, part, err)
					}
					return
				}
				select {
				case msgs <- m:
				case <-rctx.Done():
					return
				}
			}
		})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case m := <-msgs:
			if err := apply(m); err != nil {
				return err
			}
		}
	}
}
