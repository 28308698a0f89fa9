package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// input is one input topic's partition as a worker reads it: records
// fetched and not yet processed, and how far the topic goes.
type input struct {
	topic topics.Topic
	kind  topics.Kind
	ch    chan fetched
	queue []Record
	next  int64 // the offset after the last record fetched
	hwm   int64 // the partition's high-water mark as last seen
	// checked is when hwm was last asked of the broker.
	checked time.Time
	// last is when the reader last delivered a record (or started).
	last time.Time
	// started is when the current reader started, and delivered whether
	// it has delivered a record since.
	started   time.Time
	delivered bool
	// waitFrom is when a batch began to wait for records of in that the
	// broker holds, zero when none waits on it; skipped reports that a
	// batch went on without them. Both are reset when the reader delivers.
	waitFrom time.Time
	skipped  bool
	// stop ends the current reader goroutine, which closes done when it
	// will send no more to ch. Each reader has its own ch: a replaced
	// reader's late delivery can never be mistaken for its successor's.
	stop context.CancelFunc
	done chan struct{}
	// reader is the current reader, for its statistics.
	reader *kafka.Reader
	// lost is told of offsets [from, to) that were skipped.
	lost func(from, to int64)
}

// hwmRefresh is how often an input with nothing fetched asks the broker
// how far its partition goes.
const hwmRefresh = 100 * time.Millisecond

// commitRetry is how long a failed group commit waits before it is sent
// again.
const commitRetry = 500 * time.Millisecond

// readerMaxWait is how long a fetch may wait on the broker for records. A
// fetch returns as soon as one record is there, so this is not latency; but
// kafka-go also uses it as the connection's read deadline for the fetch, so
// a broker slower than that to answer (a loaded machine, a cold connection)
// fails every fetch and the reader never delivers. 50 ms did exactly that
// under load; 500 ms leaves a slow broker time to answer, and costs at most
// that much when a reader is closed mid-fetch.
const readerMaxWait = 500 * time.Millisecond

type fetched struct {
	rec Record
	hwm int64
}

// push queues a fetched record. A record before next was queued already
// (a replaced reader's last delivery racing its successor's first) and is
// dropped, so no record is applied twice whatever the readers do.
//
// A record past next means the offsets between are gone: on these topics
// (not compacted), the broker's retention deleted them before they were
// read (records with old timestamps are deleted early: time retention goes
// by record timestamp). That is said loudly through lost, never silently.
func (in *input) push(f fetched) {
	in.last = time.Now()
	in.delivered = true
	in.waitFrom, in.skipped = time.Time{}, false
	if f.rec.Offset < in.next {
		return
	}
	if f.rec.Offset > in.next && in.next > 0 && in.lost != nil {
		in.lost(in.next, f.rec.Offset)
	}
	in.queue = append(in.queue, f.rec)
	in.next = f.rec.Offset + 1
	in.hwm = max(in.hwm, f.hwm)
}

// behind reports whether the broker holds records of in not fetched yet.
func (in *input) behind() bool { return len(in.queue) == 0 && in.next < in.hwm }

// worker is a partition worker: it runs one partition number for the
// length of a generation (or until the partition is taken again, see
// runPartition). It reads clicks, purchases and erasures, merges them,
// applies them (partition.go), publishes, and commits to the changelog,
// the store and the group. Its state is the partition's own; the processor gives it the
// shared services: the table, the engine, the writers, the broker health.
type worker struct {
	p         *Processor
	cfg       *Config
	gen       *kafka.Generation
	id        int32
	committed map[topics.Topic]int64 // the group's offsets at the assignment
	// ends returns a topic's end offsets (the admin's EndOffsets; tests
	// give their own).
	ends func(ctx context.Context, topic topics.Topic) (map[int32]int64, error)

	part    *partition
	ins     []*input
	readers sync.WaitGroup
	readErr chan error
}

func newWorker(p *Processor, gen *kafka.Generation, id int32, committed map[topics.Topic]int64) *worker {
	return &worker{p: p, cfg: &p.cfg, gen: gen, id: id, committed: committed, ends: p.admin.EndOffsets}
}

// run runs the partition for the length of a generation: it takes the
// partition (claims its changelog and restores the store from it,
// table.take), reads clicks, purchases and erasures from the restored
// checkpoint's offsets (or the group's committed offsets, or the start
// policy), and loops: take a poll batch, process it, write it to the
// changelog with its records published inside the transaction, commit
// the store batch, commit the group offsets. It returns nil when the
// generation or the processor ends, an error when the partition cannot go
// on. ready is called once the partition is loaded.
//
// The topics are merged by record timestamp, which producers set to the
// event time, as Kafka Streams merges a task's partitions: a batch takes
// the earliest record at the head of any topic, so that a purchase is not
// applied before the clicks that preceded it and turn them late, and an
// erasure (stamped when it was requested) forgets the events before it
// and none after it. When one topic has nothing fetched but the broker
// holds more of it, the batch waits for it while its reader delivers (see
// take).
func (w *worker) run(ctx context.Context, ready func()) error {
	readyOnce := sync.OnceFunc(ready)
	defer readyOnce()
	cfg := w.cfg
	// Claim the partition (fencing its previous owner), and bring the
	// store's state of it up to the claim.
	log, err := w.p.table.take(ctx, w.gen, w.id)
	if log == nil || err != nil {
		if ctx.Err() != nil && !errors.Is(err, store.ErrFailed) {
			return nil
		}
		return err
	}
	defer log.Close()
	w.part, err = newPartition(w.id, w.p.db, cfg.Sessions, cfg.Limits, w.p.Engine)
	if err != nil {
		return err
	}
	w.part.log = log
	w.part.route = w.p.routeUser
	w.part.attrWindowMs = max(cfg.AttributionWindow.Milliseconds(), 0)
	w.ins = []*input{
		{topic: cfg.Names.Clicks, kind: topics.KindClick},
		{topic: cfg.Names.Purchases, kind: topics.KindPurchase},
		{topic: cfg.Names.Erasures, kind: topics.KindErasure},
	}
	rctx, stop := context.WithCancel(ctx)
	w.readErr = make(chan error, len(w.ins))
	defer func() {
		stop()
		w.readers.Wait()
	}()
	for _, in := range w.ins {
		start, ok := w.part.Next(in.topic)
		if !ok {
			start = cfg.StartOffset
			if off, ok := w.committed[in.topic]; ok {
				start = off
			}
		}
		// A rebalance may end the generation while this waits: that is no
		// error, and neither is an outage, which the health watch bounds.
		var ends map[int32]int64
		if err := w.p.brokers.retry(ctx, "admin", func(ctx context.Context) (err error) {
			ends, err = w.ends(ctx, in.topic)
			return err
		}); err != nil {
			return nil
		}
		in.hwm = ends[w.id]
		in.next = max(start, 0)
		in.lost = func(from, to int64) {
			cfg.Logger.Error("records gone before they were read: the broker's retention deleted them (time retention goes by record timestamp, i.e. event time)",
				"topic", in.topic, "partition", w.id, "from", from, "to", to)
			cfg.Metrics.lostRecords(in.topic, to-from)
		}
		if err := w.startReader(rctx, in, start); err != nil {
			return err
		}
	}
	w.p.own(w.id, w.part.cp)
	cfg.Metrics.open(w.id, w.part.open)
	defer w.p.release(w.id)
	readyOnce()
	// The group's offsets are only a fallback for a partition whose store
	// is lost, so they are committed off the worker's path: a slow or
	// stuck commit (CommitOffsets takes no context) never holds up the
	// partition. The committer sends the latest offsets it is given; the
	// first are the store's own, so that a crash between a store commit
	// and a group commit does not leave the group's behind.
	commits := make(chan map[string]int64, 1)
	var committer sync.WaitGroup
	committer.Go(func() {
		for offs := range commits {
			// A failed commit is sent again until it lands, newer offsets
			// replace it, or the generation ends: the last batch of a
			// stream must not leave the group's offsets behind for good.
			for {
				m := map[string]map[int]int64{}
				for t, o := range offs {
					m[t] = map[int]int64{int(w.id): o}
				}
				err := w.gen.CommitOffsets(m)
				if err == nil || ctx.Err() != nil {
					break
				}
				cfg.Logger.Warn("commit group offsets, retrying", "partition", w.id, "err", err)
				select {
				case newer, ok := <-commits:
					if !ok {
						return
					}
					offs = newer
				case <-ctx.Done():
				case <-time.After(commitRetry):
				}
			}
		}
	})
	defer func() {
		close(commits)
		committer.Wait()
	}()
	w.part.commitGroup = func(offs map[string]int64) {
		select {
		case <-commits: // drop the older offsets not sent yet
		default:
		}
		// The group's offsets never go back: a state restored from a
		// changelog that lags them (one written before the group's last
		// commits) is brought forward by reading again from its own
		// offsets, but the group keeps its own.
		offs = maps.Clone(offs)
		for t, o := range w.committed {
			if o > offs[string(t)] {
				offs[string(t)] = o
			}
		}
		commits <- offs
	}
	if len(w.part.cp.Offsets) > 0 {
		w.part.commitGroup(w.part.cp.Offsets)
	}

	lastRead := cfg.Now()
	idleTick := time.NewTicker(max(time.Second, cfg.IdleAdvance/4))
	defer idleTick.Stop()
	batch := make([]Record, 0, cfg.BatchSize)
	for {
		var idleMs int64
		if !drain(w.ins) && !w.part.backlog {
			// Nothing fetched: wait for a record, the idle tick or the end.
			select {
			case <-ctx.Done():
				return nil
			case err := <-w.readErr:
				return err
			case f := <-w.ins[0].ch:
				w.ins[0].push(f)
			case f := <-w.ins[1].ch:
				w.ins[1].push(f)
			case f := <-w.ins[2].ch:
				w.ins[2].push(f)
			case <-idleTick.C:
				if err := w.watchReaders(rctx); err != nil {
					return err
				}
				idle := cfg.Now().Sub(lastRead)
				if cfg.IdleAdvance < 0 || idle < cfg.IdleAdvance || w.pending(ctx) {
					continue
				}
				idleMs = idle.Milliseconds()
				lastRead = cfg.Now()
			}
		}
		batch = w.take(ctx, batch[:0])
		if len(batch) > 0 {
			lastRead = cfg.Now()
		}
		if len(batch) == 0 && idleMs == 0 && !w.part.backlog {
			continue
		}
		if err := w.step(ctx, batch, idleMs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// startReader starts a goroutine that fetches in's partition from offset
// into in.ch until its context ends.
func (w *worker) startReader(ctx context.Context, in *input, offset int64) error {
	cfg := w.cfg
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Dialer: cfg.Security.Dialer(), Topic: string(in.topic), Partition: int(w.id),
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: readerMaxWait,
		// The worker tracks lag itself; no background offset requests.
		ReadLagInterval: -1,
		// The reader retries what goes wrong by itself; say what it was.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Debug("reader", "topic", in.topic, "partition", w.id, "msg", fmt.Sprintf(msg, args...))
		}),
		Logger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Debug("reader info", "topic", in.topic, "partition", w.id, "msg", fmt.Sprintf(msg, args...))
		}),
	})
	if err := r.SetOffset(offset); err != nil {
		return errors.Join(fmt.Errorf("set offset of %s/%d to %d: %w", in.topic, w.id, offset, err), r.Close())
	}
	rctx, stop := context.WithCancel(ctx)
	ch, done := make(chan fetched, cfg.BatchSize), make(chan struct{})
	in.stop, in.last, in.reader, in.ch, in.done = stop, time.Now(), r, ch, done
	// A new reader is waited for afresh (readerStartWait), even if the
	// one it replaces had been given up on.
	in.started, in.delivered = in.last, false
	in.waitFrom, in.skipped = time.Time{}, false
	w.readers.Go(func() {
		defer func() {
			if err := r.Close(); err != nil {
				cfg.Logger.Debug("close reader", "topic", in.topic, "partition", w.id, "err", err)
			}
		}()
		defer close(done)
		for {
			m, err := r.FetchMessage(rctx)
			if err != nil {
				if rctx.Err() == nil {
					select {
					case w.readErr <- fmt.Errorf("read %s/%d: %w", in.topic, w.id, err):
					default:
					}
				}
				return
			}
			f := fetched{hwm: m.HighWaterMark, rec: Record{Kind: in.kind, Topic: in.topic, Partition: int32(m.Partition),
				Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}}
			select {
			case ch <- f:
			case <-rctx.Done():
				return
			}
		}
	})
	return nil
}

// readerStartWait is how long a batch waits for an input whose new reader
// has not delivered its first record while the broker holds records of
// it (InputWait is for readers already delivering).
const readerStartWait = 30 * time.Second

// readerStall is how long an input may deliver nothing while the broker
// holds records past it before its reader is replaced.
const readerStall = 10 * time.Second

// watchReaders replaces the reader of an input that has delivered nothing
// for readerStall although the broker holds records past the input's next
// offset: a reader whose connection went bad without an error. The old
// reader is stopped and waited for, and what it delivered is queued, in
// order; the new reader starts after it, on a channel of its own. So no
// record is dropped, and none is read twice. (A reader that looks stuck
// because the broker deleted the records it waits for, by retention, is
// not helped by this: the log start is past them, see input.push.)
func (w *worker) watchReaders(ctx context.Context) error {
	for _, in := range w.ins {
		if len(in.queue) > 0 || time.Since(in.last) < readerStall {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := w.ends(actx, in.topic)
		cancel()
		if err != nil || ends[w.id] <= in.next {
			in.last = time.Now() // caught up, or unknown: look again later
			continue
		}
		st := in.reader.Stats()
		w.cfg.Logger.Warn("reader delivered nothing while records wait: reopening it",
			"topic", in.topic, "partition", w.id, "offset", in.next, "end", ends[w.id],
			"dials", st.Dials, "fetches", st.Fetches, "messages", st.Messages, "timeouts", st.Timeouts,
			"errors", st.Errors, "reader_offset", st.Offset, "queue", st.QueueLength)
		w.cfg.Metrics.readerRestart()
		in.stop()
		select {
		case <-in.done:
		case <-ctx.Done():
			return nil
		}
	queue:
		for {
			select {
			case f := <-in.ch:
				in.push(f)
			default:
				break queue
			}
		}
		if err := w.startReader(ctx, in, in.next); err != nil {
			return err
		}
	}
	return nil
}

// pending reports whether the brokers hold input of partition id not yet
// fetched, or may: the idle advance moves the watermark by the wall clock
// only when the end offsets show every input read to its end, so that
// input delayed in a slow reader or an outage is not made late by it.
func (w *worker) pending(ctx context.Context) bool {
	for _, in := range w.ins {
		if len(in.queue) > 0 {
			return true
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := w.ends(actx, in.topic)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				w.p.brokers.failed("admin", err)
			}
			return true
		}
		w.p.brokers.ok()
		if ends[w.id] <= in.next {
			continue
		}
		// Records past next, unless retention deleted them all (a
		// partition never read whose log starts at its end).
		actx, cancel = context.WithTimeout(ctx, 2*time.Second)
		starts, err := w.p.admin.StartOffsets(actx, in.topic)
		cancel()
		if err != nil || starts[w.id] < ends[w.id] {
			return true
		}
	}
	return false
}

// drain moves what the readers have fetched into the queues, without
// blocking, and reports whether any queue holds a record.
func drain(ins []*input) bool {
	any := false
	for _, in := range ins {
	more:
		for {
			select {
			case f := <-in.ch:
				in.push(f)
			default:
				break more
			}
		}
		any = any || len(in.queue) > 0
	}
	return any
}

// take fills a batch with up to BatchSize records in record-timestamp
// order across the inputs.
//
// An input whose records wait on the broker, none fetched, holds the
// batch: they may be older than every head. Kafka Streams waits for such a
// partition (known lag) the same way. The wait is bounded by the reader's
// silence, not by the batch: it goes on as long as the reader delivers a
// record within InputWait of the last (within readerStartWait of its
// start, for a new reader), so a slow but working reader (a loaded
// machine, a slow broker) never makes records late. Past that, the batch
// goes on without the input, which is counted and logged, and does not
// wait for it again until it delivers.
func (w *worker) take(ctx context.Context, batch []Record) []Record {
	// What has been fetched is taken in one drain, before the loop: a
	// record that arrives meanwhile waits for the next batch. So an
	// empty input's end offset is asked once per batch, not again after
	// every record the busy input brings (each ask is a broker round trip);
	// only a record received while waiting for a lagging input makes the
	// others ask again.
	drain(w.ins)
	start := time.Now()
	for len(batch) < w.cfg.BatchSize {
		var lag *input
		for _, in := range w.ins {
			// Before a record of another input is taken, make sure this
			// one holds nothing older on the broker: ask again if a record
			// arrived elsewhere since the last answer. (A producer that
			// writes a purchase and then a click has the purchase in the
			// log before the click can be fetched, so the answer is
			// exact; an answer older than that record is not.)
			newest := time.Time{}
			for _, o := range w.ins {
				if o != in && o.last.After(newest) {
					newest = o.last
				}
			}
			if len(in.queue) == 0 && (in.checked.Before(newest) || time.Since(in.checked) >= hwmRefresh) {
				in.checked = time.Now()
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if ends, err := w.ends(actx, in.topic); err == nil {
					in.hwm = max(in.hwm, ends[w.id])
				}
				cancel()
			}
			if in.behind() && !in.skipped {
				lag = in
			}
		}
		if lag != nil {
			if lag.waitFrom.IsZero() {
				lag.waitFrom = time.Now()
			}
			// A reader that has not delivered yet is still connecting
			// (a worker's start, after a restart or a rebalance, under
			// load): the others would run minutes of event time ahead
			// of it and make its records late, so it is waited for
			// longer.
			until := lag.waitFrom.Add(w.cfg.InputWait)
			if !lag.delivered && lag.started.Add(readerStartWait).After(until) {
				until = lag.started.Add(readerStartWait)
			}
			// A batch that holds records already goes to be processed
			// once it has waited InputWait in all: those records are in
			// order, and the next batch waits on. So a slow but steady
			// reader never holds up commits for long.
			due := len(batch) > 0 && start.Add(w.cfg.InputWait).Before(until)
			if due {
				until = start.Add(w.cfg.InputWait)
			}
			if wait := time.Until(until); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case f := <-lag.ch:
					lag.push(f)
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return batch
				}
				t.Stop()
				continue
			}
			// A record may have come while another input was waited for.
			select {
			case f := <-lag.ch:
				lag.push(f)
				continue
			default:
			}
			if due {
				return batch
			}
			lag.skipped = true
			w.cfg.Metrics.mergeSkip(lag.topic)
			w.cfg.Logger.Warn("input topic behind: its reader delivered nothing while records wait, so batches go on without it; its records older than the watermark then reached will be late",
				"topic", lag.topic, "partition", w.id, "offset", lag.next, "end", lag.hwm, "waited", time.Since(lag.waitFrom).Round(time.Millisecond))
		}
		i := earliest(len(w.ins), func(i int) (time.Time, bool) {
			if q := w.ins[i].queue; len(q) > 0 {
				return q[0].Time, true
			}
			return time.Time{}, false
		})
		if i < 0 {
			break
		}
		pick := w.ins[i]
		batch = append(batch, pick.queue[0])
		pick.queue = pick.queue[1:]
	}
	return batch
}

// step processes one batch: process, publish, commit the store, hand the
// offsets to the group committer. The order is what makes state exactly-once and output
// at-least-once (see partition).
func (w *worker) step(ctx context.Context, batch []Record, idleMs int64) error {
	cfg := w.cfg
	readAt := cfg.Now()
	if w.p.Engine() == nil && len(batch) > 0 {
		w.p.noModel.Do(func() {
			cfg.Logger.Warn("no model loaded: state is kept, nothing is published until a model is loaded")
		})
		cfg.Metrics.noModel()
	}
	pd, err := w.part.process(batch, idleMs, readAt)
	if err != nil {
		return err
	}
	cfg.Logger.Debug("batch", "partition", w.part.id, "records", len(batch), "applied", pd.stats.applied, "dead", pd.stats.dead, "published", pd.stats.published)
	// The changelog transaction holds the batch's publish: its records
	// are acknowledged (or this owner found fenced) before anything is
	// published, and the batch is published before its state commits.
	logStart := cfg.Now()
	last, err := w.part.log.txn(ctx, changelogRecords(pd.users, pd.cp), func() error { return w.p.out.publish(ctx, pd) })
	if err != nil {
		if ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", errRestart, err)
		}
		return errors.Join(err, w.part.abort(pd))
	}
	cfg.Metrics.changelogWrite(cfg.Now().Sub(logStart))
	pd.cp.Changelog = last + 1
	start := cfg.Now()
	if err := w.part.commit(pd, cfg.SyncCommits); err != nil {
		return err
	}
	cfg.Metrics.batch(w.part.id, pd, readAt, start, cfg.Now())
	w.p.attr.add(pd.stats.attr)
	if pd.stats.erased > 0 {
		// Not the users: a log line is no place for whom to forget.
		cfg.Logger.Info("erasure requests applied", "partition", w.part.id, "users", pd.stats.erased)
	}
	w.p.out.live().batch(pd)
	cfg.Metrics.open(w.part.id, w.part.open)
	w.p.own(w.part.id, pd.cp)
	if len(batch) > 0 {
		w.part.commitGroup(pd.cp.Offsets)
	}
	return nil
}
