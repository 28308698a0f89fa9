package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// followCount is the demo's own count of the clicks its shoppers sent
// under --follow: the ground truth of the processor's attribution
// (GET /v1/attribution), which must find the same.
type followCount struct {
	// Eligible is the clicks sent while the shopper had been shown a
	// recommendation within the attribution window before the click: the
	// clicks the attribution counts.
	Eligible int
	// Followed is the eligible clicks made because of a recommendation:
	// the draw said follow, and the shopper clicked an item of their
	// latest record.
	Followed int
}

// Rate is Followed / Eligible, 0 without eligible clicks.
func (c followCount) Rate() float64 {
	if c.Eligible == 0 {
		return 0
	}
	return float64(c.Followed) / float64(c.Eligible)
}

// shown is a record's items, recommended to its user at the event time of
// the event that produced it (the record's source.event_time).
type shown struct {
	at    time.Time
	items []string
}

// follower is the demo's shoppers' memory of what they were recommended,
// and their choice at each click (demo --follow P). It counts as the
// processor's attribution does: a record shows its items to its user at
// its source event time (a record with none, published when a session
// closes, shows nothing); a click at t is eligible when the user was shown
// an item within [t-window, t], and followed when it is such an item.
//
// At an eligible click, with probability P the shopper clicks an item of
// their latest record instead of the planned one. Otherwise the planned
// item stays, unless it was shown to them within the window: then an item
// that was not takes its place. This is what makes the count exact: the
// shop's shoppers browse one topic at a time, and its recommendations are
// the items of that topic, so a planned click would land on a recommended
// item by chance most of the time, and the attribution would count as
// followed a click the shopper did not make because of a recommendation.
//
// Its methods are safe for concurrent use: the recommendations are read
// while the clicks are sent (see sendFollowing for the order that makes
// each click see every record its user's earlier events produced).
type follower struct {
	p      float64
	window time.Duration
	shop   *synth.Shop

	mu     sync.Mutex
	rng    *rand.Rand
	users  map[string]shown // the latest record shown, as the processor keeps it
	counts followCount
}

// newFollower returns the shoppers of shop following recommendations with
// probability p, over an attribution window, drawing from a seeded
// generator of their own.
func newFollower(p float64, window time.Duration, shop *synth.Shop, seed uint64) *follower {
	return &follower{p: p, window: window, shop: shop, rng: rand.New(rand.NewPCG(seed, 4)), users: map[string]shown{}}
}

// read takes one record of the recommendations topic: the user (its key)
// is shown its items, at its source event time; a tombstone (nil value)
// forgets the user.
func (f *follower) read(msg kafka.Message) error {
	user := string(msg.Key)
	if msg.Value == nil {
		f.mu.Lock()
		delete(f.users, user)
		f.mu.Unlock()
		return nil
	}
	r, err := topics.DecodeRecommendation(msg.Value)
	if err != nil {
		return fmt.Errorf("demo: recommendations partition %d offset %d: %w", msg.Partition, msg.Offset, err)
	}
	if r.Source.EventTime.IsZero() || len(r.Items) == 0 {
		return nil
	}
	x := shown{at: r.Source.EventTime, items: make([]string, len(r.Items))}
	for i, it := range r.Items {
		x.items[i] = it.ItemID
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// As the processor keeps them: the latest record alone, its first
	// store.MaxExposedItems items.
	x.items = x.items[:min(len(x.items), store.MaxExposedItems)]
	f.users[user] = x
	return nil
}

// click returns the item user clicks at event time at, planned being the
// shop's plan, and counts the click.
func (f *follower) click(user string, at time.Time, planned string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.users[user]
	if !ok || x.at.Before(at.Add(-f.window)) || x.at.After(at) {
		return planned // nothing shown within [at-window, at]
	}
	f.counts.Eligible++
	if f.rng.Float64() < f.p {
		f.counts.Followed++
		return x.items[f.rng.IntN(len(x.items))]
	}
	isShown := func(item string) bool { return slices.Contains(x.items, item) }
	if !isShown(planned) {
		return planned
	}
	// Another item of the planned one's topic, else of the catalogue:
	// there is one, since a user is shown at most store.MaxExposedItems
	// of its 200.
	pick := func(pool []int) (string, bool) {
		var free []string
		for _, i := range pool {
			if id := f.shop.Items[i].ID; !isShown(id) {
				free = append(free, id)
			}
		}
		if len(free) == 0 {
			return "", false
		}
		return free[f.rng.IntN(len(free))], true
	}
	if id, ok := pick(f.shop.ByTopic[f.shop.TopicOf[planned]]); ok {
		return id
	}
	all := make([]int, len(f.shop.Items))
	for i := range all {
		all[i] = i
	}
	if id, ok := pick(all); ok {
		return id
	}
	return planned
}

// count returns the clicks counted so far.
func (f *follower) count() followCount {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts
}

// followChunk bounds the event time one write spans, as
// topics.ReplayConfig.Chunk does by default: under the processor's grace,
// so that the clicks and purchases of one write, which may reach the log
// in any order, are never late.
const followChunk = 30 * time.Second

// sendFollowing sends events (in event-time order) as topics.Replay does,
// in chunks paced by speed (0: as fast as the processor takes them), but
// decides each click as its chunk goes out, from the records read so far
// (follower.click); purchases go as planned. Before each chunk, settle
// waits until the processor has handled every event sent and the demo has
// read every record they produced, and a chunk holds at most one event of
// a user: a user's click is then decided on every record their earlier
// events produced, as the processor judges it, never on a view that lags
// the processor's. It returns once the last chunk is sent and settled.
func sendFollowing(ctx context.Context, prod *topics.Producer, events []topics.Event, speed float64, f *follower, settle func(context.Context) error) error {
	if len(events) == 0 {
		return nil
	}
	start, first := time.Now(), events[0].Time
	for sent := 0; sent < len(events); {
		end, users := sent, map[string]bool{}
		for end < len(events) && !users[events[end].UserID] && events[end].Time.Sub(events[sent].Time) < followChunk {
			users[events[end].UserID] = true
			end++
		}
		if speed > 0 {
			due := start.Add(time.Duration(float64(events[sent].Time.Sub(first)) / speed))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		}
		if err := settle(ctx); err != nil {
			return err
		}
		chunk := events[sent:end]
		for i, e := range chunk {
			if e.Kind == topics.KindClick {
				chunk[i].ItemID = f.click(e.UserID, e.Time, e.ItemID)
			}
		}
		if err := prod.Send(ctx, chunk...); err != nil {
			return err
		}
		sent = end
	}
	return settle(ctx)
}

// demoSettler tells when the processor has handled every event sent to
// it and the demo's readers have read every record it published for them.
type demoSettler struct {
	adm   *topics.Admin
	group string
	names topics.Names
	// read holds, for each partition of the recommendations topic, the
	// offset after the last record its reader has read (and handed to
	// the follower).
	read []atomic.Int64
}

// wait returns once the group's committed offsets on clicks and purchases
// reach their end offsets, and then the readers reach the end offsets of
// the recommendations topic. A partition commits the group's offsets of a
// batch last, once the batch's records are acknowledged and its state
// committed (processor doc, "A poll batch", step 5), and its attribution
// counted ("Attribution"), so when they reach the end every event sent is
// counted and every record they produced is in the recommendations topic,
// below the end offsets read after.
func (s *demoSettler) wait(ctx context.Context) error {
	poll := func(done func() (bool, error)) error {
		for {
			ok, err := done()
			if ok || err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if err := poll(func() (bool, error) {
		lags, err := s.adm.Lag(ctx, s.group, s.names.Clicks, s.names.Purchases)
		if err != nil {
			return false, err
		}
		for _, l := range lags {
			if l.Lag > 0 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	end, err := s.adm.EndOffsets(ctx, s.names.Recommendations)
	if err != nil {
		return err
	}
	return poll(func() (bool, error) {
		for p, o := range end {
			if s.read[p].Load() < o {
				return false, nil
			}
		}
		return true, nil
	})
}
