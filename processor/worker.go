package processor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

// work runs one partition number for the length of a generation: it loads
// the partition's checkpoint, reads clicks and purchases from the
// checkpoint's offsets (or the group's committed offsets, or the start
// policy), and loops: take a poll batch, process it, publish its records,
// commit the store batch, commit the group offsets. It returns nil when the
// generation or the processor ends, an error when the partition cannot go
// on. ready is called once the partition is loaded.
//
// The two topics are merged by record timestamp, which producers set to the
// event time, as Kafka Streams merges a task's partitions: a batch takes
// the earliest record at the head of either topic, so that a purchase is not
// applied before the clicks that preceded it and turn them late. When one
// topic has nothing fetched but the broker holds more of it, the batch
// waits for it up to InputWait.
func (p *Processor) work(ctx context.Context, gen *kafka.Generation, id int32, committed map[topics.Topic]int64, ready func()) error {
	readyOnce := sync.OnceFunc(ready)
	defer readyOnce()
	cfg := p.cfg
	// Claim the partition's changelog (fencing its previous owner), and
	// bring the store's state of it up to the claim.
	log, err := openStateLog(cfg.Brokers, cfg.Group, id)
	if err != nil {
		return err
	}
	defer log.Close()
	var claimed int64
	var claimErr error
	if err := p.retry(ctx, "changelog", func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, changelogTxnTimeout)
		defer cancel()
		claimed, claimErr = log.claim(actx, ownerClaim{Member: gen.MemberID, Generation: gen.ID, Advertise: cfg.Advertise})
		if fenced(claimErr) {
			return nil // another producer claimed after this one: see below
		}
		return claimErr
	}); err != nil {
		return nil // the generation or the processor ended
	}
	if claimErr != nil {
		return fmt.Errorf("%w: %w", errRestart, claimErr)
	}
	if err := p.restore(ctx, id, claimed, log); err != nil {
		if ctx.Err() != nil && !errors.Is(err, store.ErrFailed) {
			return nil
		}
		return err
	}
	part, err := newPartition(id, p.db, cfg.Sessions, cfg.Limits, p.Engine)
	if err != nil {
		return err
	}
	part.log = log
	ins := []*input{
		{topic: cfg.Names.Clicks, kind: topics.KindClick},
		{topic: cfg.Names.Purchases, kind: topics.KindPurchase},
	}
	rctx, stop := context.WithCancel(ctx)
	var readers sync.WaitGroup
	readErr := make(chan error, len(ins))
	defer func() {
		stop()
		readers.Wait()
	}()
	for _, in := range ins {
		start, ok := part.Next(in.topic)
		if !ok {
			start = cfg.StartOffset
			if off, ok := committed[in.topic]; ok {
				start = off
			}
		}
		// A rebalance may end the generation while this waits: that is no
		// error, and neither is an outage, which the health watch bounds.
		var ends map[int32]int64
		if err := p.retry(ctx, "admin", func(ctx context.Context) (err error) {
			ends, err = p.admin.EndOffsets(ctx, in.topic)
			return err
		}); err != nil {
			return nil
		}
		in.hwm = ends[id]
		in.next = max(start, 0)
		in.lost = func(from, to int64) {
			cfg.Logger.Error("records gone before they were read: the broker's retention deleted them (time retention goes by record timestamp, i.e. event time)",
				"topic", in.topic, "partition", id, "from", from, "to", to)
			cfg.Metrics.lostRecords(in.topic, to-from)
		}
		if err := p.startReader(rctx, &readers, in, id, start, readErr); err != nil {
			return err
		}
	}
	p.own(id, part.cp)
	cfg.Metrics.open(id, part.open)
	defer p.release(id)
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
					m[t] = map[int]int64{int(id): o}
				}
				err := gen.CommitOffsets(m)
				if err == nil || ctx.Err() != nil {
					break
				}
				cfg.Logger.Warn("commit group offsets, retrying", "partition", id, "err", err)
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
	part.commitGroup = func(offs map[string]int64) {
		select {
		case <-commits: // drop the older offsets not sent yet
		default:
		}
		// The group's offsets never go back: a state restored from a
		// changelog that lags them (one written before the group's last
		// commits) is brought forward by reading again from its own
		// offsets, but the group keeps its own.
		offs = maps.Clone(offs)
		for t, o := range committed {
			if o > offs[string(t)] {
				offs[string(t)] = o
			}
		}
		commits <- offs
	}
	if len(part.cp.Offsets) > 0 {
		part.commitGroup(part.cp.Offsets)
	}

	lastRead := cfg.Now()
	idleTick := time.NewTicker(max(time.Second, cfg.IdleAdvance/4))
	defer idleTick.Stop()
	batch := make([]Record, 0, cfg.BatchSize)
	for {
		var idleMs int64
		if !drain(ins) && !part.backlog {
			// Nothing fetched: wait for a record, the idle tick or the end.
			select {
			case <-ctx.Done():
				return nil
			case err := <-readErr:
				return err
			case f := <-ins[0].ch:
				ins[0].push(f)
			case f := <-ins[1].ch:
				ins[1].push(f)
			case <-idleTick.C:
				if err := p.watchReaders(rctx, &readers, ins, id, readErr); err != nil {
					return err
				}
				idle := cfg.Now().Sub(lastRead)
				if cfg.IdleAdvance < 0 || idle < cfg.IdleAdvance || p.pending(ctx, id, ins) {
					continue
				}
				idleMs = idle.Milliseconds()
				lastRead = cfg.Now()
			}
		}
		batch = p.take(ctx, id, ins, batch[:0])
		if len(batch) > 0 {
			lastRead = cfg.Now()
		}
		if len(batch) == 0 && idleMs == 0 && !part.backlog {
			continue
		}
		if err := p.step(ctx, part, batch, idleMs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// startReader starts a goroutine that fetches in's partition from offset
// into in.ch until its context ends.
func (p *Processor) startReader(ctx context.Context, readers *sync.WaitGroup, in *input, id int32, offset int64, readErr chan<- error) error {
	cfg := p.cfg
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: string(in.topic), Partition: int(id),
		MinBytes: 1, MaxBytes: 8 << 20, MaxWait: readerMaxWait,
		// The worker tracks lag itself; no background offset requests.
		ReadLagInterval: -1,
		// The reader retries what goes wrong by itself; say what it was.
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Debug("reader", "topic", in.topic, "partition", id, "msg", fmt.Sprintf(msg, args...))
		}),
		Logger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Debug("reader info", "topic", in.topic, "partition", id, "msg", fmt.Sprintf(msg, args...))
		}),
	})
	if err := r.SetOffset(offset); err != nil {
		return errors.Join(fmt.Errorf("set offset of %s/%d to %d: %w", in.topic, id, offset, err), r.Close())
	}
	rctx, stop := context.WithCancel(ctx)
	ch, done := make(chan fetched, cfg.BatchSize), make(chan struct{})
	in.stop, in.last, in.reader, in.ch, in.done = stop, time.Now(), r, ch, done
	in.started, in.delivered = in.last, false
	readers.Go(func() {
		defer func() {
			if err := r.Close(); err != nil {
				cfg.Logger.Debug("close reader", "topic", in.topic, "partition", id, "err", err)
			}
		}()
		defer close(done)
		for {
			m, err := r.FetchMessage(rctx)
			if err != nil {
				if rctx.Err() == nil {
					select {
					case readErr <- fmt.Errorf("read %s/%d: %w", in.topic, id, err):
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
func (p *Processor) watchReaders(ctx context.Context, readers *sync.WaitGroup, ins []*input, id int32, readErr chan<- error) error {
	for _, in := range ins {
		if len(in.queue) > 0 || time.Since(in.last) < readerStall {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := p.admin.EndOffsets(actx, in.topic)
		cancel()
		if err != nil || ends[id] <= in.next {
			in.last = time.Now() // caught up, or unknown: look again later
			continue
		}
		st := in.reader.Stats()
		p.cfg.Logger.Warn("reader delivered nothing while records wait: reopening it",
			"topic", in.topic, "partition", id, "offset", in.next, "end", ends[id],
			"dials", st.Dials, "fetches", st.Fetches, "messages", st.Messages, "timeouts", st.Timeouts,
			"errors", st.Errors, "reader_offset", st.Offset, "queue", st.QueueLength)
		p.cfg.Metrics.readerRestart()
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
		if err := p.startReader(ctx, readers, in, id, in.next, readErr); err != nil {
			return err
		}
	}
	return nil
}

// pending reports whether the brokers hold input of partition id not yet
// fetched, or may: the idle advance moves the watermark by the wall clock
// only when the end offsets show every input read to its end, so that
// input delayed in a slow reader or an outage is not made late by it.
func (p *Processor) pending(ctx context.Context, id int32, ins []*input) bool {
	for _, in := range ins {
		if len(in.queue) > 0 {
			return true
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := p.admin.EndOffsets(actx, in.topic)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.brokers.failed(p, "admin", err)
			}
			return true
		}
		p.brokers.ok(p)
		if ends[id] <= in.next {
			continue
		}
		// Records past next, unless retention deleted them all (a
		// partition never read whose log starts at its end).
		actx, cancel = context.WithTimeout(ctx, 2*time.Second)
		starts, err := p.admin.StartOffsets(actx, in.topic)
		cancel()
		if err != nil || starts[id] < ends[id] {
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
func (p *Processor) take(ctx context.Context, id int32, ins []*input, batch []Record) []Record {
	deadline := time.Now().Add(p.cfg.InputWait)
	// What has been fetched is taken in one drain, before the loop: a
	// record that arrives meanwhile waits for the next batch. So an
	// empty input's end offset is asked once per batch, not again after
	// every record the busy input brings (each ask is a broker round trip);
	// only a record received while waiting for a lagging input makes the
	// others ask again.
	drain(ins)
	for len(batch) < p.cfg.BatchSize {
		var lag *input
		for _, in := range ins {
			// Before a record of another input is taken, make sure this
			// one holds nothing older on the broker: ask again if a record
			// arrived elsewhere since the last answer. (A producer that
			// writes a purchase and then a click has the purchase in the
			// log before the click can be fetched, so the answer is
			// exact; an answer older than that record is not.)
			newest := time.Time{}
			for _, o := range ins {
				if o != in && o.last.After(newest) {
					newest = o.last
				}
			}
			if len(in.queue) == 0 && (in.checked.Before(newest) || time.Since(in.checked) >= hwmRefresh) {
				in.checked = time.Now()
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if ends, err := p.admin.EndOffsets(actx, in.topic); err == nil {
					in.hwm = max(in.hwm, ends[id])
				}
				cancel()
			}
			if in.behind() {
				lag = in
			}
		}
		if lag != nil {
			// A reader that has not delivered yet is still connecting
			// (a worker's start, after a restart or a rebalance, under
			// load): the others would run minutes of event time ahead
			// of it and make its records late, so it is waited for
			// longer.
			until := deadline
			if !lag.delivered && lag.started.Add(readerStartWait).After(until) {
				until = lag.started.Add(readerStartWait)
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
		}
		var pick *input
		for _, in := range ins {
			if len(in.queue) > 0 && (pick == nil || in.queue[0].Time.Before(pick.queue[0].Time)) {
				pick = in
			}
		}
		if pick == nil {
			break
		}
		batch = append(batch, pick.queue[0])
		pick.queue = pick.queue[1:]
	}
	return batch
}

// step processes one batch: process, publish, commit the store, hand the
// offsets to the group committer. The order is what makes state exactly-once and output
// at-least-once (see partition).
func (p *Processor) step(ctx context.Context, part *partition, batch []Record, idleMs int64) error {
	cfg := p.cfg
	readAt := cfg.Now()
	if p.Engine() == nil && len(batch) > 0 {
		p.noModel.Do(func() {
			cfg.Logger.Warn("no model loaded: state is kept, nothing is published until a model is loaded")
		})
		cfg.Metrics.noModel()
	}
	pd, err := part.process(batch, idleMs, readAt)
	if err != nil {
		return err
	}
	cfg.Logger.Debug("batch", "partition", part.id, "records", len(batch), "applied", pd.stats.applied, "dead", pd.stats.dead, "published", pd.stats.published)
	// The changelog transaction holds the batch's publish: its records
	// are acknowledged (or this owner found fenced) before anything is
	// published, and the batch is published before its state commits.
	logStart := cfg.Now()
	last, err := part.log.txn(ctx, changelogRecords(pd.users, pd.cp), func() error { return p.publish(ctx, pd) })
	if err != nil {
		if ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", errRestart, err)
		}
		return errors.Join(err, part.abort(pd))
	}
	cfg.Metrics.changelogWrite(cfg.Now().Sub(logStart))
	pd.cp.Changelog = last + 1
	if err := pd.batch.PutCheckpoint(pd.cp); err != nil {
		return errors.Join(err, part.abort(pd))
	}
	start := cfg.Now()
	if err := part.commit(pd, cfg.SyncCommits); err != nil {
		return err
	}
	cfg.Metrics.batch(part.id, pd, readAt, start, cfg.Now())
	cfg.Metrics.open(part.id, part.open)
	p.own(part.id, pd.cp)
	if len(batch) > 0 {
		part.commitGroup(pd.cp.Offsets)
	}
	return nil
}

// publish writes a batch's recommendations and dead letters and waits for
// the brokers' acknowledgements. Transient errors (an outage, a leader
// moving) are retried with backoff until the records land or ctx ends; the
// health watch ends Run if the brokers stay silent for BrokerTimeout. A
// record the broker refuses for good (too large, invalid) is never
// retried forever: a dead letter is sent again without its original value
// (DeadLetter.Stripped), and a record refused even so is logged with its
// source, counted in sessionrec_records_unwritable_total and dropped.
func (p *Processor) publish(ctx context.Context, pd *pending) error {
	if len(pd.recs) > 0 {
		msgs := make([]kafka.Message, 0, len(pd.recs))
		for _, r := range pd.recs {
			v, err := r.Encode()
			if err != nil {
				return err
			}
			msgs = append(msgs, kafka.Message{Key: []byte(r.UserID), Value: v})
		}
		refused := func(i int, err error) (kafka.Message, bool) {
			r := pd.recs[i]
			p.cfg.Logger.Error("recommendation refused by the broker for good: dropped", "user", r.UserID,
				"source", fmt.Sprintf("%s/%d@%d", r.Source.Topic, r.Source.Partition, r.Source.Offset), "bytes", len(msgs[i].Value), "err", err)
			return kafka.Message{}, false
		}
		if err := p.write(ctx, p.recs, p.cfg.Names.Recommendations, msgs, refused); err != nil {
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
					p.cfg.Logger.Warn("dead letter refused by the broker: sending it without the original value",
						"source", fmt.Sprintf("%s/%d@%d", d.Topic, d.Partition, d.Offset), "bytes", len(msgs[i].Value), "err", err)
					return m, true
				}
			}
			p.cfg.Logger.Error("dead letter refused by the broker for good: dropped",
				"source", fmt.Sprintf("%s/%d@%d", d.Topic, d.Partition, d.Offset), "reason", d.Reason, "err", err)
			return kafka.Message{}, false
		}
		if err := p.write(ctx, p.dlq, p.cfg.Names.DeadLetters, msgs, refused); err != nil {
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
func (p *Processor) write(ctx context.Context, w *kafka.Writer, topic topics.Topic, msgs []kafka.Message,
	refused func(i int, err error) (kafka.Message, bool)) error {
	index := make([]int, len(msgs)) // index[j]: msgs[j]'s index in the caller's msgs
	for i := range index {
		index[i] = i
	}
	return p.retry(ctx, "publish", func(ctx context.Context) error {
		for len(msgs) > 0 {
			err := w.WriteMessages(ctx, msgs...)
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
						p.cfg.Metrics.unwritableRecord(topic)
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
