package processor

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// Record is an input record: a click or a purchase as read from its topic.
type Record struct {
	Kind      topics.Kind
	Topic     topics.Topic
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Time is the record's Kafka timestamp, the event time of an event
	// without its own.
	Time time.Time
}

// DecodeRecord decodes an input record as the processor does before it
// applies it: the event codec (topics.DecodeEvent, with recordTime for an
// event without its own time and now as the clock), and the record key
// must be the event's user. The error is a *topics.ValidationError, whose
// Reason is the dead letter's. Training replays (sessionrec train) decode
// with it too, so that they read exactly what the processor applies.
func DecodeRecord(kind topics.Kind, key, value []byte, recordTime, now time.Time, lim topics.Limits) (topics.Event, error) {
	e, err := topics.DecodeEvent(kind, value, recordTime, now, lim)
	if err != nil {
		return topics.Event{}, err
	}
	if string(key) != e.UserID {
		return topics.Event{}, &topics.ValidationError{Field: "user_id", Reason: topics.ReasonInvalidField,
			Detail: fmt.Sprintf("user_id %q differs from the record key %q", e.UserID, key)}
	}
	return e, nil
}

// storeEvent is the sessionizer's form of a decoded event.
func storeEvent(e topics.Event) store.Event {
	kind := store.Click
	if e.Kind == topics.KindPurchase {
		kind = store.Purchase
	}
	return store.Event{ItemID: e.ItemID, TimeMs: e.Time.UnixMilli(), Kind: kind, EventID: e.EventID}
}

// partition applies the records of one input partition number (of clicks
// and purchases both) to the users of that partition. It is owned by one
// goroutine.
//
// process turns a poll batch into a pending change: the recommendation
// records and dead letters to publish, the changed users' encoded states
// for the changelog, a store batch holding the new user states, and the
// checkpoint with the offsets past the batch. The caller writes the
// changelog transaction (publishing inside it), then commits the store
// batch with the checkpoint (commit), then commits the group offsets. A crash before the transaction's
// commit loses nothing: the changelog and the store still hold the state
// before the batch with the offsets before it, the batch is read and
// applied again, and its records are published again (output is
// at-least-once; a record is the full latest state of its key).
type partition struct {
	id     int32
	db     *store.DB
	z      Sessionizer
	limits topics.Limits
	engine func() *Engine // nil when no model is loaded
	// route gives the engine that serves a user, and the user's arm
	// ("" without an A/B split), from the batch's engine; nil: the
	// batch's engine serves every user.
	route func(eng *Engine, user string) (*Engine, string)

	cp         store.Checkpoint
	maxEventMs int64 // highest event time applied, for the watermark
	// open counts the partition's open sessions (users with an entry in
	// the expiry index), for the metrics.
	open int
	// backlog: sessions the watermark ended are still open (see
	// maxExpiries); the worker runs another batch without waiting.
	backlog bool

	// attrWindowMs is Config.AttributionWindow in milliseconds, 0 when
	// attribution is off.
	attrWindowMs int64

	// commitGroup hands offsets to the group committer; it never blocks.
	commitGroup func(map[string]int64)
	// log writes the partition's changelog.
	log *stateLog
}

func newPartition(id int32, db *store.DB, z Sessionizer, lim topics.Limits, engine func() *Engine) (*partition, error) {
	p := &partition{id: id, db: db, z: z.withDefaults(), limits: lim, engine: engine}
	cp, err := db.Checkpoint(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		cp = store.Checkpoint{Offsets: map[string]int64{}, WatermarkMs: minWatermark}
	case err != nil:
		return nil, err
	}
	p.cp = cp
	p.maxEventMs = cp.WatermarkMs + p.z.Grace.Milliseconds()
	if err := db.Expiring(id, math.MaxInt64, func(string, int64) bool {
		p.open++
		return true
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// maxExpiries bounds the sessions one batch closes from the expiry index.
// A watermark that jumps (idle advance after a quiet night, a replay)
// can end thousands of sessions at once, and each closed session is
// ranked again; closing them a slice per batch keeps the events read
// with them from waiting for all of it. Sessions of users with events in
// the batch are closed whatever this bound.
const maxExpiries = 64

// minWatermark is the watermark of a partition that has seen no event.
const minWatermark = -1 << 62

func (z Sessionizer) withDefaults() Sessionizer {
	z.fill()
	return z
}

// Next returns the next offset to read of an input topic, and whether the
// partition's checkpoint has one.
func (p *partition) Next(topic topics.Topic) (int64, bool) {
	o, ok := p.cp.Offsets[string(topic)]
	return o, ok
}

// Outcome counts of a batch, for the metrics.
type batchStats struct {
	applied, duplicates, closed int
	// cut counts sessions closed at their bound (Sessionizer.MaxEvents).
	cut int
	// opened is the change in open sessions: sessions started minus
	// sessions closed.
	opened    int
	dead      map[string]int // by reason
	published int
	// erased counts erasure requests applied.
	erased int
	// attr are the attribution counts of the batch.
	attr attrBatch
	// results counts input records by topic and result ("applied",
	// "duplicate", "dead_letter").
	results map[topicResult]int
}

type topicResult struct {
	topic  topics.Topic
	result string
}

// pending is a processed batch waiting to be published and committed.
type pending struct {
	// users are the changed users' new states, for the changelog.
	users []userRecord
	recs  []topics.Recommendation
	// erased are the users forgotten by the batch's erasure requests, in
	// user order: their recommendations get a tombstone, published
	// before recs (which may hold a new record of a user whose events
	// came after the request).
	erased []string
	dead   []topics.DeadLetter
	// applied are the events applied, in order, for the live feed
	// (stream.go).
	applied []appliedEvent
	batch   *store.Batch
	cp      store.Checkpoint
	stats   batchStats
	// backlog: the watermark ended more sessions than one batch closes;
	// the rest close in the next batches.
	backlog bool
	// prevMaxEventMs restores the partition's high-water event time when
	// the batch is aborted.
	prevMaxEventMs int64
}

// userChange is a user touched by the batch.
type userChange struct {
	s         *store.UserState
	oldExpiry int64
	publish   bool          // an event was applied: consider publishing
	src       topics.Source // the last applied event
	// erased: an erasure request forgot the user in this batch; s is
	// what the user's events after it made, from nothing.
	erased bool
}

// process applies recs (in order) and then closes the sessions the new
// watermark ends. idleMs, when positive, advances the watermark as if that
// much event time had passed without events (wall-clock idle advance).
func (p *partition) process(recs []Record, idleMs int64, now time.Time) (*pending, error) {
	eng := p.engine()
	pd := &pending{cp: store.Checkpoint{Offsets: maps.Clone(p.cp.Offsets), WatermarkMs: p.cp.WatermarkMs, Changelog: p.cp.Changelog}}
	pd.stats.dead = map[string]int{}
	pd.stats.results = map[topicResult]int{}
	users := map[string]*userChange{}
	get := func(id string) (*userChange, error) {
		if u, ok := users[id]; ok {
			return u, nil
		}
		s, err := p.db.User(p.id, id)
		if errors.Is(err, store.ErrNotFound) {
			s, err = &store.UserState{}, nil
		}
		if err != nil {
			return nil, err
		}
		u := &userChange{s: s, oldExpiry: p.z.ExpiryMs(s)}
		users[id] = u
		return u, nil
	}
	maxEvent := p.maxEventMs
	for _, r := range recs {
		pd.cp.Offsets[string(r.Topic)] = r.Offset + 1
		dead := func(err error) {
			dl := topics.NewDeadLetter(r.Topic, r.Partition, r.Offset, r.Key, r.Value, r.Time, err)
			pd.dead = append(pd.dead, dl)
			pd.stats.dead[dl.Reason]++
			pd.stats.results[topicResult{r.Topic, "dead_letter"}]++
		}
		if r.Kind == topics.KindErasure {
			er, err := topics.DecodeErasure(r.Key, r.Value, p.limits)
			if err != nil {
				dead(err)
				continue
			}
			u, err := get(er.UserID)
			if err != nil {
				return nil, err
			}
			// Forgotten: whatever the user's later events make starts
			// from nothing.
			u.s, u.erased, u.publish = &store.UserState{}, true, false
			pd.stats.erased++
			pd.stats.results[topicResult{r.Topic, "applied"}]++
			pd.applied = append(pd.applied, appliedEvent{user: er.UserID, erased: true})
			continue
		}
		e, err := DecodeRecord(r.Kind, r.Key, r.Value, r.Time, now, p.limits)
		if err != nil {
			dead(err)
			continue
		}
		if eng != nil && !eng.Knows(e.ItemID) {
			dead(&topics.ValidationError{Field: "item_id", Reason: topics.ReasonUnknownItem,
				Detail: fmt.Sprintf("item %q is not in the catalogue", e.ItemID)})
			continue
		}
		u, err := get(e.UserID)
		if err != nil {
			return nil, err
		}
		ms := e.Time.UnixMilli()
		cut, outcome := p.z.Place(u.s, e.UserID, storeEvent(e), p.z.Watermark(maxEvent))
		if len(cut) > 0 {
			// A session at its bound was closed, and the event starts a
			// new one (Sessionizer.MaxEvents).
			p.closeSessions(p.routed(eng, e.UserID), u, cut, &pd.stats)
			pd.stats.cut++
		}
		switch outcome {
		case Late:
			dead(&topics.ValidationError{Field: "ts", Reason: topics.ReasonLate,
				Detail: fmt.Sprintf("event time %s is before the watermark %s", e.Time.UTC().Format(time.RFC3339Nano), time.UnixMilli(p.z.Watermark(maxEvent)).UTC().Format(time.RFC3339Nano))})
			continue
		case Duplicate:
			pd.stats.duplicates++
			pd.stats.results[topicResult{r.Topic, "duplicate"}]++
			continue
		}
		pd.stats.applied++
		if p.attrWindowMs > 0 {
			attribute(u.s, e, p.attrWindowMs, &pd.stats.attr)
		}
		pd.applied = append(pd.applied, appliedEvent{user: e.UserID, item: e.ItemID, purchase: e.Kind == topics.KindPurchase, at: e.Time})
		pd.stats.results[topicResult{r.Topic, "applied"}]++
		maxEvent = max(maxEvent, ms)
		u.publish = true
		u.src = topics.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, EventTime: e.Time}
	}
	if idleMs > 0 {
		maxEvent += idleMs
	}
	wm := max(p.cp.WatermarkMs, p.z.Watermark(maxEvent))
	pd.cp.WatermarkMs = wm

	// Close the sessions the watermark ends: those in the expiry index up
	// to wm, and those of users changed in this batch (whose index entries
	// are not written yet).
	var expiring []string
	if err := p.db.Expiring(p.id, wm, func(id string, _ int64) bool {
		if len(expiring) == maxExpiries {
			pd.backlog = true
			return false
		}
		expiring = append(expiring, id)
		return true
	}); err != nil {
		return nil, err
	}
	for id, u := range users {
		if x := p.z.ExpiryMs(u.s); x != 0 && x <= wm {
			expiring = append(expiring, id)
		}
	}
	slices.Sort(expiring)
	for _, id := range slices.Compact(expiring) {
		u, err := get(id)
		if err != nil {
			return nil, err
		}
		p.closeSessions(p.routed(eng, id), u, p.z.Expire(u.s, id, wm), &pd.stats)
	}

	// Recommendations for the users whose intents changed, and the state.
	pd.batch = p.db.NewBatch(p.id)
	ids := slices.Sorted(maps.Keys(users))
	// The users' encodings share one buffer: the store batch copies them,
	// and the changelog records keep them until the batch's transaction.
	var states []byte
	for _, id := range ids {
		u := users[id]
		if u.erased {
			pd.erased = append(pd.erased, id)
			if u.s.Applied == 0 {
				// Nothing since the request: the user is deleted from the
				// store, and the changelog gets a tombstone (a nil state).
				pd.users = append(pd.users, userRecord{id: id})
				err := pd.batch.DeleteUser(id)
				if err == nil {
					err = pd.batch.SetExpiry(id, u.oldExpiry, 0)
				}
				if err != nil {
					return nil, errors.Join(err, pd.batch.Abort())
				}
				if u.oldExpiry != 0 {
					pd.stats.opened--
				}
				continue
			}
		}
		if eng != nil && u.publish {
			// Ranking is the CPU of a batch; between users, let a waiting
			// goroutine run (a query API request, another partition's
			// publish) rather than wait for the scheduler's 10 ms slice.
			runtime.Gosched()
			ue, arm := p.serving(eng, id)
			cur := p.z.Current(u.s)
			session := ue.Intents(cur, u.s.Past)
			if sig := signature(session, u.s.Past); sig != u.s.PublishedSig {
				r, err := ue.Recommend(u.s, cur, session, time.UnixMilli(max(u.s.LastEventMs, wm)))
				if err != nil {
					return nil, errors.Join(err, pd.batch.Abort())
				}
				rec := ue.record(id, u.s, r, u.src, now, ue.knobs, model.Filter{})
				rec.Arm = arm
				if p.attrWindowMs > 0 {
					expose(u.s, &rec, &pd.stats.attr)
				}
				pd.recs = append(pd.recs, rec)
				u.s.PublishedSig = sig
				pd.stats.published++
			}
		}
		n := len(states)
		states = store.AppendUserState(states, u.s)
		v := states[n:len(states):len(states)]
		pd.users = append(pd.users, userRecord{id: id, state: v})
		err := pd.batch.PutUserEncoded(id, v)
		newExpiry := p.z.ExpiryMs(u.s)
		if err == nil {
			err = pd.batch.SetExpiry(id, u.oldExpiry, newExpiry)
		}
		switch {
		case u.oldExpiry == 0 && newExpiry != 0:
			pd.stats.opened++
		case u.oldExpiry != 0 && newExpiry == 0:
			pd.stats.opened--
		}
		if err != nil {
			return nil, errors.Join(err, pd.batch.Abort())
		}
	}
	pd.prevMaxEventMs, p.maxEventMs = p.maxEventMs, maxEvent
	return pd, nil
}

// serving returns the engine that serves user, and the user's arm (see
// partition.route); eng is the batch's engine, not nil.
func (p *partition) serving(eng *Engine, user string) (*Engine, string) {
	if p.route == nil {
		return eng, ""
	}
	return p.route(eng, user)
}

// routed returns the engine that serves user: eng's routing, nil when eng
// is nil (no model).
func (p *partition) routed(eng *Engine, user string) *Engine {
	if eng == nil {
		return nil
	}
	e, _ := p.serving(eng, user)
	return e
}

// closeSessions keeps the intents of a user's closed sessions (newest
// first, KeepIntents of them) for the next sessions. An intent that
// resumed a past one (it carries the past one's ID) replaces it.
func (p *partition) closeSessions(eng *Engine, u *userChange, closed [][]store.Event, st *batchStats) {
	for _, evs := range closed {
		st.closed++
		if eng != nil {
			kept := keepIntents(eng.Intents(evs, u.s.Past))
			ids := map[string]bool{}
			for _, in := range kept {
				ids[in.ID] = true
			}
			older := slices.DeleteFunc(slices.Clone(u.s.Past), func(in store.PastIntent) bool { return ids[in.ID] })
			u.s.Past = slices.Concat(kept, older)
			u.s.Past = u.s.Past[:min(len(u.s.Past), max(p.z.KeepIntents, 0))]
		}
		u.publish = true
	}
}

// commit writes a processed batch to the store with its checkpoint pd.cp
// (the caller has set its changelog position); the partition then resumes
// from the batch's offsets.
func (p *partition) commit(pd *pending, sync bool) error {
	if err := pd.batch.PutCheckpoint(pd.cp); err != nil {
		return errors.Join(err, pd.batch.Abort())
	}
	if err := pd.batch.Commit(sync); err != nil {
		return err
	}
	p.cp = pd.cp
	p.open += pd.stats.opened
	p.backlog = pd.backlog
	return nil
}

// abort drops a processed batch: the partition's state and offsets stay as
// they were before it.
func (p *partition) abort(pd *pending) error {
	p.maxEventMs = pd.prevMaxEventMs
	return pd.batch.Abort()
}
