package processor

import (
	"cmp"
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// A replay for training reads clicks, purchases and items over fixed
// offset ranges (topics.ReplayRanges: decided once, before reading, up to
// the end offsets of that moment) and turns them into the trainer's
// corpus (sessionrec train). Each partition number is replayed as the
// partition worker runs it (partition.go, worker.go): its clicks
// and purchases merged by record timestamp (clicks first on a tie), each
// record decoded with the same codec and limits, checked against its key,
// and applied with the same Sessionizer under a watermark that
// follows the highest event time applied; a late event is skipped where
// the processor would dead-letter it. At the end every session still open
// is closed, since the replay knows no more events will come. Every closed
// session is a training session; model.Train then keeps those with a
// purchase (unless KeepAll) and at most MaxEvents events.
//
// What a record becomes is the worker's own code: DecodeRecord and the
// Sessionizer. Only the loop around them is the replay's: it keeps users
// in memory rather than in a store, and knows when the stream ends.

// ReplayConfig says what ReplayCorpus reads and how it sessionizes.
type ReplayConfig struct {
	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// Security is how the replay reaches the brokers; nil: plaintext.
	Security *topics.Security
	// Names are the topics.
	Names topics.Names
	// From and Until bound the record timestamps of clicks and purchases:
	// a zero From is the log start, a zero Until the end offsets at the
	// start. The items topic is read whole.
	From, Until time.Time
	// Sessions configures the sessionizer, as for the processor.
	Sessions Sessionizer
	// Limits bound input records, as for the processor.
	Limits topics.Limits
	// Now is the clock events' times are judged against (an event more
	// than Limits.MaxFuture after it is refused), as the processor judges
	// them against its clock when it reads them.
	Now time.Time
	// Parallel bounds the partitions replayed at once. Default 2.
	Parallel int
	// CheckModels: the models topic is checked too (it will be published
	// to).
	CheckModels bool
	// Started, when set, is called once the offset ranges are fixed and
	// before anything is read, with the number of offsets they span; the
	// function it returns is called for every record read, from several
	// goroutines at once. (A progress display hooks in here; so do tests,
	// to write records that must not be read.)
	Started func(total int64) (read func())
}

// ReplayStats counts what a replay read.
type ReplayStats struct {
	// Partitions is the number of input partitions replayed.
	Partitions int
	// Events counts the click and purchase records read; Items the items
	// topic's.
	Events, Items int64
	// Applied events, and Duplicates (an open session already had the
	// event ID; applied once, as the processor does).
	Applied, Duplicates int64
	// Skipped counts the event records not applied, by reason
	// (topics.Reason*): the ones the processor dead-letters.
	Skipped map[string]int64
	// BadItems counts the items records that are not items, by reason.
	BadItems map[string]int64
	// Sessions is the number of sessions closed; Catalogue the items in
	// the catalogue (the items topic's, without the withdrawn).
	Sessions, Catalogue int
}

// ReplayCorpus replays the topics of cfg and returns the training corpus,
// the catalogue (the items topic's items and an id-only item for every
// other item the events name), and what it read. The corpus is the same
// whatever the timing and the order partitions finish in: sessions are
// ordered by start time, then user, and items by id (the catalogue's)
// then first use.
func ReplayCorpus(ctx context.Context, cfg ReplayConfig) (model.Corpus, map[string]model.Item, ReplayStats, error) {
	var st ReplayStats
	adm, err := topics.NewAdmin(cfg.Brokers, topics.WithSecurity(cfg.Security))
	if err != nil {
		return model.Corpus{}, nil, st, err
	}
	defer adm.Close()
	if err := adm.Reach(ctx); err != nil {
		return model.Corpus{}, nil, st, err
	}
	if _, err := adm.CheckReplay(ctx, cfg.Names, cfg.CheckModels); err != nil {
		return model.Corpus{}, nil, st, err
	}
	ranges := map[topics.Topic][]topics.ReplayRange{}
	for _, t := range []topics.Topic{cfg.Names.Clicks, cfg.Names.Purchases} {
		if ranges[t], err = adm.ReplayRanges(ctx, t, cfg.From, cfg.Until); err != nil {
			return model.Corpus{}, nil, st, err
		}
	}
	if ranges[cfg.Names.Items], err = adm.ReplayRanges(ctx, cfg.Names.Items, time.Time{}, time.Time{}); err != nil {
		return model.Corpus{}, nil, st, err
	}
	var total int64
	for _, rs := range ranges {
		for _, r := range rs {
			total += r.Len()
		}
	}
	read := func() {}
	if cfg.Started != nil {
		read = cfg.Started(total)
	}

	clicks, purchases := ranges[cfg.Names.Clicks], ranges[cfg.Names.Purchases]
	if len(clicks) != len(purchases) {
		// CheckReplay refuses this before; the partitions could have been
		// added in between.
		return model.Corpus{}, nil, st, &topics.PartitionMismatchError{Topic: cfg.Names.Clicks, Partitions: int32(len(clicks)),
			Other: cfg.Names.Purchases, OtherPartitions: int32(len(purchases))}
	}
	parts := make([]*partitionReplay, len(clicks))
	var catalogue map[string]model.Item
	var itemStats itemReplay
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(cfg.Parallel, 2) + 1) // + the items reader
	g.Go(func() error {
		var err error
		catalogue, err = itemStats.read(gctx, cfg, ranges[cfg.Names.Items], read)
		return err
	})
	for i := range clicks {
		p := &partitionReplay{z: cfg.Sessions, limits: cfg.Limits, now: cfg.Now, part: i,
			users: map[string]*store.UserState{}, index: map[string]int32{}, maxEventMs: minWatermark}
		parts[i] = p
		g.Go(func() error { return p.run(gctx, cfg.Brokers, cfg.Security, clicks[i], purchases[i], read) })
	}
	if err := g.Wait(); err != nil {
		return model.Corpus{}, nil, st, err
	}

	st.Partitions = len(parts)
	st.Items, st.BadItems, st.Catalogue = itemStats.records, itemStats.bad, len(catalogue)
	st.Skipped = map[string]int64{}
	var sessions []closedSession
	for _, p := range parts {
		st.Events += p.records
		st.Applied += p.applied
		st.Duplicates += p.duplicates
		for r, n := range p.skipped {
			st.Skipped[r] += n
		}
		sessions = append(sessions, p.closed...)
	}
	st.Sessions = len(sessions)
	corpus, items := buildCorpus(catalogue, parts, sessions)
	return corpus, items, st, nil
}

// buildCorpus numbers the items (the catalogue's by id, then the others
// by first use) and orders the sessions by start time, user and
// partition. It returns the corpus and every item by id.
func buildCorpus(catalogue map[string]model.Item, parts []*partitionReplay, sessions []closedSession) (model.Corpus, map[string]model.Item) {
	var c model.Corpus
	index := make(map[string]int32, len(catalogue))
	all := maps.Clone(catalogue)
	for _, id := range slices.Sorted(maps.Keys(catalogue)) {
		index[id] = int32(len(c.Items))
		c.Items = append(c.Items, catalogue[id])
	}
	slices.SortFunc(sessions, func(a, b closedSession) int {
		return cmp.Or(cmp.Compare(a.startMs, b.startMs), cmp.Compare(a.user, b.user), cmp.Compare(a.part, b.part))
	})
	global := make([][]int32, len(parts)) // partition's local item -> corpus index, -1 unset
	for i, p := range parts {
		global[i] = slices.Repeat([]int32{-1}, len(p.items))
	}
	c.Sessions = make([][]model.Event, 0, len(sessions))
	for _, s := range sessions {
		g, local := global[s.part], parts[s.part].items
		for j, e := range s.events {
			x := g[e.Item]
			if x < 0 {
				id := local[e.Item]
				var ok bool
				if x, ok = index[id]; !ok {
					x = int32(len(c.Items))
					index[id] = x
					it := model.Item{ID: id}
					c.Items = append(c.Items, it)
					all[id] = it
				}
				g[e.Item] = x
			}
			s.events[j].Item = x
		}
		c.Sessions = append(c.Sessions, s.events)
		from, to := time.UnixMilli(s.startMs).UTC(), time.UnixMilli(s.endMs).UTC()
		if c.From.IsZero() || from.Before(c.From) {
			c.From = from
		}
		if to.After(c.To) {
			c.To = to
		}
	}
	return c, all
}

// closedSession is a session the replay closed, its items numbered in its
// partition's own item table until buildCorpus renumbers them.
type closedSession struct {
	startMs, endMs int64
	user           string
	part           int // index into the replay's partitions
	events         []model.Event
}

// sweepEvery is how many records a partition reads between sweeps that
// close every session its watermark has ended, so that users who do not
// come back do not hold their events until the end.
const sweepEvery = 1 << 16

// partitionReplay replays one partition number of clicks and purchases.
// It is owned by one goroutine.
type partitionReplay struct {
	z      Sessionizer
	limits topics.Limits
	now    time.Time
	part   int // index of the partition among the replay's

	users      map[string]*store.UserState
	maxEventMs int64 // highest event time applied, for the watermark

	// items numbers the partition's items in order of first use; index
	// is its inverse.
	items []string
	index map[string]int32
	// closed are the sessions closed so far.
	closed []closedSession

	records, applied, duplicates int64
	skipped                      map[string]int64
}

// run reads the partition's ranges of clicks and purchases, merges them by
// record timestamp and applies them, then closes every open session.
func (p *partitionReplay) run(ctx context.Context, brokers []string, sec *topics.Security, clicks, purchases topics.ReplayRange, read func()) error {
	g, gctx := errgroup.WithContext(ctx)
	inputs := []replayInput{{kind: topics.KindClick}, {kind: topics.KindPurchase}}
	for i, r := range []topics.ReplayRange{clicks, purchases} {
		ch := make(chan kafka.Message, 1024)
		inputs[i].ch = ch
		g.Go(func() error {
			defer close(ch)
			return topics.ReadRange(gctx, brokers, r, func(m kafka.Message) error {
				read()
				select {
				case ch <- m:
					return nil
				case <-gctx.Done():
					return gctx.Err()
				}
			}, topics.WithSecurity(sec))
		})
	}
	g.Go(func() error {
		for {
			in, err := nextReplayInput(gctx, inputs)
			if in == nil || err != nil {
				return err
			}
			p.apply(in.kind, in.head)
			in.head, in.has = kafka.Message{}, false
			if p.records%sweepEvery == 0 {
				p.sweep()
			}
		}
	})
	if err := g.Wait(); err != nil {
		return err
	}
	p.finish()
	return nil
}

// replayInput is one topic of a partition being merged: the record at its head.
type replayInput struct {
	kind topics.Kind
	ch   <-chan kafka.Message
	head kafka.Message
	has  bool // head holds a record
	done bool // ch is closed and drained
}

// next returns the replayInput whose head record comes next in record-timestamp
// order, as the processor's worker takes them (processor/worker.go, take):
// the earlier head, and clicks when the times are equal. It waits until
// every replayInput has a head or has ended, so the order does not depend on
// which reader is ahead; it returns nil when all have ended.
func nextReplayInput(ctx context.Context, inputs []replayInput) (*replayInput, error) {
	for i := range inputs {
		in := &inputs[i]
		if !in.has && !in.done {
			select {
			case m, ok := <-in.ch:
				in.head, in.has, in.done = m, ok, !ok
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	i := earliest(len(inputs), func(i int) (time.Time, bool) { return inputs[i].head.Time, inputs[i].has })
	if i < 0 {
		return nil, nil
	}
	return &inputs[i], nil
}

// apply applies one record as the processor's partition does
// (processor/partition.go, process).
func (p *partitionReplay) apply(kind topics.Kind, m kafka.Message) {
	p.records++
	e, err := DecodeRecord(kind, m.Key, m.Value, m.Time, p.now, p.limits)
	if err != nil {
		p.skip(topics.ReasonOf(err))
		return
	}
	s, ok := p.users[e.UserID]
	if !ok {
		s = &store.UserState{}
		p.users[e.UserID] = s
	}
	wm := p.z.Watermark(p.maxEventMs)
	// Sessions the watermark has ended are closed before the event is
	// placed, as the processor closes them at the end of the batch before:
	// an event at or after the watermark is Gap or more after them, so it
	// could not have joined them anyway.
	p.expire(e.UserID, s, wm)
	ms := e.Time.UnixMilli()
	cut, outcome := p.z.Place(s, e.UserID, storeEvent(e), wm)
	p.keep(e.UserID, cut)
	switch outcome {
	case Late:
		p.skip(topics.ReasonLate)
	case Duplicate:
		p.duplicates++
	case Applied:
		p.applied++
		p.maxEventMs = max(p.maxEventMs, ms)
	}
}

func (p *partitionReplay) skip(reason string) {
	if p.skipped == nil {
		p.skipped = map[string]int64{}
	}
	p.skipped[reason]++
}

// expire closes the user's sessions that the watermark wm has ended and
// keeps them as training sessions.
func (p *partitionReplay) expire(user string, s *store.UserState, wm int64) {
	p.keep(user, p.z.Expire(s, user, wm))
}

// keep keeps closed sessions of a user as training sessions.
func (p *partitionReplay) keep(user string, closed [][]store.Event) {
	for _, evs := range closed {
		cs := closedSession{startMs: evs[0].TimeMs, endMs: evs[len(evs)-1].TimeMs, user: user, part: p.part,
			events: make([]model.Event, len(evs))}
		for i, e := range evs {
			x, ok := p.index[e.ItemID]
			if !ok {
				x = int32(len(p.items))
				p.index[e.ItemID] = x
				p.items = append(p.items, e.ItemID)
			}
			cs.events[i] = model.Event{Item: x, Purchase: e.Kind == store.Purchase}
		}
		p.closed = append(p.closed, cs)
	}
}

// sweep closes every session the watermark has ended and forgets the users
// left with no open session: a user's state holds nothing else the
// sessionizer reads.
func (p *partitionReplay) sweep() {
	wm := p.z.Watermark(p.maxEventMs)
	for user, s := range p.users {
		p.expire(user, s, wm)
		if len(s.Events) == 0 {
			delete(p.users, user)
		}
	}
}

// finish closes every open session: the replay has read all there is, so
// none can grow any more.
func (p *partitionReplay) finish() {
	for _, user := range slices.Sorted(maps.Keys(p.users)) {
		p.expire(user, p.users[user], math.MaxInt64)
	}
	p.users = nil
}

// itemReplay reads the items topic.
type itemReplay struct {
	records int64
	bad     map[string]int64 // records that are not items, by reason
}

// read reads the items topic's ranges and returns the catalogue: the
// latest item of every key, without the withdrawn (tombstones). A record
// that is not an item is counted and skipped, leaving the key's previous
// item, as the processor does.
func (ir *itemReplay) read(ctx context.Context, cfg ReplayConfig, ranges []topics.ReplayRange, read func()) (map[string]model.Item, error) {
	out := map[string]model.Item{}
	ir.bad = map[string]int64{}
	for _, r := range ranges {
		err := topics.ReadRange(ctx, cfg.Brokers, r, func(m kafka.Message) error {
			read()
			ir.records++
			if m.Value == nil {
				delete(out, string(m.Key))
				return nil
			}
			it, err := topics.DecodeItem(m.Key, m.Value, cfg.Limits)
			if err != nil {
				ir.bad[topics.ReasonOf(err)]++
				return nil
			}
			out[it.ItemID] = ModelItem(it)
			return nil
		}, topics.WithSecurity(cfg.Security))
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
