package processor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/topics"
)

// publisher writes the processor's output records: recommendations and
// dead letters, for the partition workers and the catalogue follower. It
// is safe for concurrent use.
type publisher struct {
	cfg       *Config
	recs, dlq *kafka.Writer
	brokers   *outage

	// feed tells the query API's live stream what the workers apply and
	// publish (stream.go); made on first use.
	feedOnce sync.Once
	feed     *liveFeed
}

// live returns the live feed of the batches the workers commit.
func (o *publisher) live() *liveFeed {
	o.feedOnce.Do(func() { o.feed = newLiveFeed(o.cfg) })
	return o.feed
}

// publish writes a batch's recommendations and dead letters and waits for
// the brokers' acknowledgements. Transient errors (an outage, a leader
// moving) are retried with backoff until the records land or ctx ends; the
// health watch ends Run if the brokers stay silent for BrokerTimeout. A
// record the broker refuses for good (too large, invalid) is never
// retried forever: a dead letter is sent again without its original value
// (DeadLetter.Stripped), and a record refused even so is logged with its
// source, counted in sessionrec_records_unwritable_total and dropped.
func (o *publisher) publish(ctx context.Context, pd *pending) error {
	if len(pd.recs)+len(pd.erased) > 0 {
		// The tombstones of users erased first: a user's events after
		// the request may have a new record in recs, which comes after.
		msgs := make([]kafka.Message, 0, len(pd.erased)+len(pd.recs))
		for _, u := range pd.erased {
			msgs = append(msgs, kafka.Message{Key: []byte(u)})
		}
		for _, r := range pd.recs {
			v, err := r.Encode()
			if err != nil {
				return err
			}
			msgs = append(msgs, kafka.Message{Key: []byte(r.UserID), Value: v})
		}
		refused := func(i int, err error) (kafka.Message, bool) {
			if i < len(pd.erased) {
				o.cfg.Logger.Error("recommendations tombstone of an erased user refused by the broker for good: dropped; the user's last record stays on the topic until it is deleted by hand",
					"user", pd.erased[i], "err", err)
				return kafka.Message{}, false
			}
			r := pd.recs[i-len(pd.erased)]
			o.cfg.Logger.Error("recommendation refused by the broker for good: dropped", "user", r.UserID,
				"source", fmt.Sprintf("%s/%d@%d", r.Source.Topic, r.Source.Partition, r.Source.Offset), "bytes", len(msgs[i].Value), "err", err)
			return kafka.Message{}, false
		}
		if err := o.write(ctx, o.recs, o.cfg.Names.Recommendations, msgs, refused); err != nil {
			return fmt.Errorf("publish recommendations: %w", err)
		}
	}
	if len(pd.dead) > 0 {
		msgs := make([]kafka.Message, 0, len(pd.dead))
		for _, d := range pd.dead {
			m, err := deadLetterMessage(d)
			if err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		stripped := make([]bool, len(msgs))
		refused := func(i int, err error) (kafka.Message, bool) {
			d := pd.dead[i]
			if !stripped[i] {
				stripped[i] = true
				if m, err := deadLetterMessage(d.Stripped()); err == nil {
					o.cfg.Logger.Warn("dead letter refused by the broker: sending it without the original value",
						"source", fmt.Sprintf("%s/%d@%d", d.Topic, d.Partition, d.Offset), "bytes", len(msgs[i].Value), "err", err)
					return m, true
				}
			}
			o.cfg.Logger.Error("dead letter refused by the broker for good: dropped",
				"source", fmt.Sprintf("%s/%d@%d", d.Topic, d.Partition, d.Offset), "reason", d.Reason, "err", err)
			return kafka.Message{}, false
		}
		if err := o.write(ctx, o.dlq, o.cfg.Names.DeadLetters, msgs, refused); err != nil {
			return fmt.Errorf("publish dead letters: %w", err)
		}
	}
	return nil
}

// deadLetterMessage is the record of a dead letter.
func deadLetterMessage(d topics.DeadLetter) (kafka.Message, error) {
	v, err := d.Encode()
	if err != nil {
		return kafka.Message{}, err
	}
	m := kafka.Message{Key: d.Key, Value: v}
	for _, h := range d.Headers() {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m, nil
}

// write writes msgs with w until each is acknowledged or refused for
// good, or ctx ends. Transient failures are retried with backoff (retry:
// the messages not yet written, all at once). A message the broker refuses
// for good is handed to refused with its index in msgs: it returns the
// message to send instead, at once, or false to drop it (and it is
// counted).
func (o *publisher) write(ctx context.Context, kw *kafka.Writer, topic topics.Topic, msgs []kafka.Message,
	refused func(i int, err error) (kafka.Message, bool)) error {
	index := make([]int, len(msgs)) // index[j]: msgs[j]'s index in the caller's msgs
	for i := range index {
		index[i] = i
	}
	return o.brokers.retry(ctx, "publish", func(ctx context.Context) error {
		for len(msgs) > 0 {
			err := kw.WriteMessages(ctx, msgs...)
			if err == nil || ctx.Err() != nil {
				return err
			}
			var again []kafka.Message
			var againIndex []int
			transient := false
			for j, e := range writeErrors(err, msgs) {
				switch {
				case e == nil:
					continue
				case errors.Is(e, errUnsent):
					again, againIndex = append(again, msgs[j]), append(againIndex, index[j])
				case permanent(e):
					if m, ok := refused(index[j], e); ok {
						again, againIndex = append(again, m), append(againIndex, index[j])
					} else {
						o.cfg.Metrics.unwritableRecord(topic)
					}
				default:
					transient = true
					again, againIndex = append(again, msgs[j]), append(againIndex, index[j])
				}
			}
			msgs, index = again, againIndex
			if transient {
				return err // after a backoff, the rest again
			}
		}
		return nil
	})
}

// writeErrors returns the error of each of msgs from the error of a write
// of them: kafka-go's own per message, or err for every message, except
// when the client refused one message before sending any (over its
// BatchBytes): then that one has err and the others errUnsent.
func writeErrors(err error, msgs []kafka.Message) kafka.WriteErrors {
	var werrs kafka.WriteErrors
	if errors.As(err, &werrs) && len(werrs) == len(msgs) {
		return werrs
	}
	werrs = make(kafka.WriteErrors, len(msgs))
	var tooLarge kafka.MessageTooLargeError
	isTooLarge := errors.As(err, &tooLarge) && slices.ContainsFunc(msgs, func(m kafka.Message) bool { return sameMessage(m, tooLarge.Message) })
	for j := range werrs {
		werrs[j] = err
		if isTooLarge && !sameMessage(msgs[j], tooLarge.Message) {
			werrs[j] = errUnsent
		}
	}
	return werrs
}

// sameMessage reports whether a and b are the same message, a copy of the
// other: the same key and value bytes, by address (kafka-go's
// MessageTooLargeError holds a copy of the message it refused).
func sameMessage(a, b kafka.Message) bool {
	same := func(x, y []byte) bool {
		return len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	}
	return same(a.Key, b.Key) && same(a.Value, b.Value)
}

// errUnsent marks the messages of a write the client gave up before
// sending, for another message's fault.
var errUnsent = errors.New("processor: not sent")

// permanent reports whether a write error is about the record itself and
// will not go away by retrying it: too large, invalid, a timestamp the
// broker refuses, or one the client would never send. Every other error
// (an outage, authorization, a missing topic) is the cluster's and is
// retried, within BrokerTimeout.
func permanent(err error) bool {
	var tooLarge kafka.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	var kerr kafka.Error
	if !errors.As(err, &kerr) {
		return false
	}
	switch kerr {
	case kafka.MessageSizeTooLarge, kafka.RecordListTooLarge, kafka.InvalidRecord, kafka.InvalidTimestamp:
		return true
	}
	return false
}
