package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Producer writes click and purchase events to their topics, keyed by user
// id and partitioned with murmur2 (the Java client's default), with the
// record timestamp set to the event time: the processor merges the two
// topics of a partition by record timestamp. A Producer is safe for
// concurrent use.
type Producer struct {
	names Names
	w     *kafka.Writer
	tr    *kafka.Transport
}

// NewProducer returns a producer to the brokers' topics in names.
func NewProducer(brokers []string, names Names, opts ...ClientOption) *Producer {
	// A transport of its own: kafka-go's shared default caches topic
	// metadata and would call a topic created meanwhile unknown.
	tr := applyOptions(opts).sec.Transport()
	return &Producer{names: names.WithDefaults(), tr: tr, w: &kafka.Writer{
		Transport: tr,
		Addr:      kafka.TCP(brokers...),
		Balancer:  &kafka.Murmur2Balancer{},
		// Events go out within milliseconds; the default would hold each
		// batch for a second.
		BatchTimeout: 2 * time.Millisecond,
		BatchSize:    1000,
		RequiredAcks: kafka.RequireAll,
	}}
}

// Send writes events and waits for the brokers' acknowledgements. Events
// are validated first; an invalid one fails the call before anything is
// written.
func (p *Producer) Send(ctx context.Context, events ...Event) error {
	msgs := make([]kafka.Message, 0, len(events))
	for _, e := range events {
		v, err := e.Encode()
		if err != nil {
			return err
		}
		topic := p.names.Clicks
		if e.Kind == KindPurchase {
			topic = p.names.Purchases
		}
		msgs = append(msgs, kafka.Message{Topic: string(topic), Key: []byte(e.UserID), Value: v, Time: e.Time})
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("topics: produce %d events: %w", len(msgs), err)
	}
	return nil
}

// SendItems writes catalogue items to the items topic, keyed by item id,
// and waits for the acknowledgements. Items are validated first; an
// invalid one fails the call before anything is written.
func (p *Producer) SendItems(ctx context.Context, items ...Item) error {
	msgs := make([]kafka.Message, 0, len(items))
	for _, it := range items {
		v, err := it.Encode()
		if err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Topic: string(p.names.Items), Key: []byte(it.ItemID), Value: v})
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("topics: produce %d items: %w", len(msgs), err)
	}
	return nil
}

// WithdrawItems writes tombstones for the items to the items topic: the
// processors never recommend them again.
func (p *Producer) WithdrawItems(ctx context.Context, ids ...string) error {
	msgs := make([]kafka.Message, 0, len(ids))
	for _, id := range ids {
		msgs = append(msgs, kafka.Message{Topic: string(p.names.Items), Key: []byte(id), Value: nil})
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("topics: withdraw %d items: %w", len(msgs), err)
	}
	return nil
}

// Forget writes an erasure request ([Erasure]) for each user to the
// erasures topic, keyed by the user id, and waits for the brokers'
// acknowledgements: the processor that owns a user forgets it. Ids are
// validated first; an invalid one fails the call before anything is
// written.
func (p *Producer) Forget(ctx context.Context, at time.Time, users ...string) error {
	msgs := make([]kafka.Message, 0, len(users))
	for _, u := range users {
		e := Erasure{UserID: u, RequestedAt: at.UTC()}
		v, err := e.Encode()
		if err != nil {
			return err
		}
		if _, err := DecodeErasure([]byte(u), v, Limits{}); err != nil {
			return err
		}
		msgs = append(msgs, kafka.Message{Topic: string(p.names.Erasures), Key: []byte(u), Value: v, Time: at})
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("topics: produce %d erasure requests: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.tr.CloseIdleConnections()
	return err
}

// ReplayConfig paces Replay.
type ReplayConfig struct {
	// Speed is how many times faster than the events' own pace to send:
	// 1 is the original pace, 60 a minute per second; 0 means as fast as
	// possible.
	Speed float64
	// Chunk bounds the event time one write of clicks and purchases
	// together spans: the two topics' records of a chunk may reach the
	// log in any order, so it must stay under the processor's grace.
	// A chunk of one kind only is bounded by count alone (5000 events)
	// unless Speed paces the replay. Default 30s, half the default grace.
	Chunk time.Duration
	// Progress, when set, is called after each chunk with the events sent.
	Progress func(sent int)
	// Restamp sets each event's time to the moment its chunk is sent, as
	// live traffic is stamped; the events' own times then only pace it.
	Restamp bool
}

// Replay sends events, which must be in event-time order, in chunks, each
// written and acknowledged before the next, pacing them by cfg.Speed. It
// returns the number of events sent. With Restamp it rewrites the events'
// times in place.
func Replay(ctx context.Context, p *Producer, events []Event, cfg ReplayConfig) (int, error) {
	if cfg.Chunk == 0 {
		cfg.Chunk = 30 * time.Second
	}
	if cfg.Speed < 0 {
		return 0, errors.New("topics: replay speed must be >= 0")
	}
	if len(events) == 0 {
		return 0, nil
	}
	start, first := time.Now(), events[0].Time
	sent := 0
	for sent < len(events) {
		end, mixed := sent+1, false
		for end < len(events) && end-sent < 5000 {
			mixed = mixed || events[end].Kind != events[sent].Kind
			// Paced, a chunk goes out when its first event is due, so its
			// span bounds how early the others leave; unpaced, only a
			// chunk of both kinds needs bounding.
			if (mixed || cfg.Speed > 0) && events[end].Time.Sub(events[sent].Time) >= cfg.Chunk {
				break
			}
			end++
		}
		if cfg.Speed > 0 {
			due := start.Add(time.Duration(float64(events[sent].Time.Sub(first)) / cfg.Speed))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					return sent, ctx.Err()
				case <-time.After(wait):
				}
			}
		}
		if cfg.Restamp {
			now := time.Now().UTC().Truncate(time.Millisecond)
			for i := sent; i < end; i++ {
				events[i].Time = now
			}
		}
		if err := p.Send(ctx, events[sent:end]...); err != nil {
			return sent, err
		}
		sent = end
		if cfg.Progress != nil {
			cfg.Progress(sent)
		}
	}
	return sent, nil
}
