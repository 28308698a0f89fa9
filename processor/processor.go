package processor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// Config sets up a Processor. Zero fields mean their defaults.
type Config struct {
	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// Security is how every client of the processor reaches the brokers
	// (TLS, SASL); nil: plaintext.
	Security *topics.Security
	// Group is the consumer group. Default "sessionrec".
	Group string
	// Names are the topics. Default topics.DefaultNames().
	Names topics.Names
	// Sessions configures the sessionizer (gap, grace).
	Sessions Sessionizer
	// IdleAdvance: when a partition has read nothing for this long, its
	// watermark advances with the wall clock, so sessions close when
	// traffic stops. Default 30s; negative turns it off (for replays at
	// other than real-time pace).
	IdleAdvance time.Duration
	// BatchSize bounds the records of one poll batch. Default 500.
	BatchSize int
	// InputWait bounds the silence of an input topic's reader while the
	// broker holds records of it that none fetched: a batch waits for them,
	// to merge the topics in timestamp order, as long as the reader
	// delivers a record within InputWait of the last. Past it, batches go
	// on without that input (sessionrec_merge_skips_total, and a log line)
	// until it delivers again, and its records older than the watermark
	// then reached are late. A batch that holds records already is
	// processed once it has waited InputWait in all, and the next one waits
	// on. Default 2s: a fetch on a busy machine can take hundreds of
	// milliseconds. A reader that has not delivered since it started is
	// waited for up to 30s. (A topic written by transactional producers
	// ends with a commit marker no reader delivers, so an input read to its
	// end still looks behind: while it is quiet its reader is reopened
	// every 10s, and the next record of another input may wait up to 30s
	// for the new reader. The inputs are meant for plain producers.)
	InputWait time.Duration
	// StartOffset is where a partition with no stored checkpoint and no
	// committed group offset starts: kafka.FirstOffset (default) or
	// kafka.LastOffset.
	StartOffset int64
	// SyncCommits makes every store commit wait for fsync. Default false:
	// a process crash loses nothing, a machine crash may lose the last
	// batches, which are then read and applied again (see store.Batch.Commit).
	SyncCommits bool
	// Limits bound input records.
	Limits topics.Limits
	// Logger receives the processor's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Metrics records what the processor does; nil records nothing.
	Metrics *Metrics
	// SessionTimeout and HeartbeatInterval of the consumer group. Defaults
	// 10s and 1s.
	SessionTimeout, HeartbeatInterval time.Duration
	// LagInterval is how often the lag metric asks the brokers for the
	// input partitions' end offsets; the answers also tell whether the
	// brokers are reachable (Ready). Default 5s; negative turns it off.
	LagInterval time.Duration
	// BrokerTimeout is how long the processor rides through a broker
	// outage: transient errors of readers, writers, the group and admin
	// requests are retried with backoff, and only when the brokers have
	// answered nothing for this long does Run return an error, for an
	// orchestrator to restart the instance. Default 5 minutes.
	BrokerTimeout time.Duration
	// Engine says how engines are built from a model (SetModel).
	Engine EngineConfig
	// MaxModelBytes bounds the size of a model artefact taken from the
	// models topic: a manifest over it is refused (reason too_large)
	// before any of its chunks is held, and the chunks held of versions
	// whose manifest has not come are at most this many bytes in all.
	// Default topics.DefaultMaxModelBytes (1 GiB).
	MaxModelBytes int64
	// ModelVerifyKey, when set, is the Ed25519 public key every model
	// from the models topic must be signed with: a manifest unsigned, or
	// whose signature does not verify with it, is refused (reason
	// bad_signature) before any of its chunks is assembled
	// (topics.ModelManifest.Verify). Default nil: models are not verified,
	// and anyone who can write to the topic can roll out a model.
	ModelVerifyKey ed25519.PublicKey
	// Split, when set, runs an A/B test (ab.go): exactly two arms, named
	// ArmA and ArmB in this order, each a model version from the models
	// topic and a share of the users; New normalises the shares to sum to
	// 1 (90 and 10 are 0.9 and 0.1) in its copy, never in the caller's
	// slice. Each user is served by the version of its arm (AssignArm),
	// and by the other arm's while its own is missing or refused; no
	// other version is served. Default nil: one model, the newest.
	Split []Arm
	// Catalog seeds the catalogue (e.g. from a file); the items topic's
	// records replace or withdraw these items.
	Catalog []model.Item
	// Standby is how many partitions this instance does not own whose
	// changelog it follows into its store, so that taking one over (its
	// owner crashed) restores only the changelog's tail (standby.go).
	// Default 0: none.
	Standby int
	// AttributionWindow is how long after a published recommendation, in
	// event time, a click or purchase of one of its items counts as
	// followed (attribution.go). Default 30 minutes; negative turns
	// attribution off (no exposures are kept, nothing is counted).
	AttributionWindow time.Duration
	// Advertise is the address of this instance's query API as other
	// instances should give it to clients (host:port). It travels with
	// the group membership, so that an instance asked about a user whose
	// partition another owns can answer 421 with the owner. Empty: not
	// advertised.
	Advertise string
}

// EngineConfig says how the processor builds an engine from a model and
// the catalogue.
type EngineConfig struct {
	// Index builds the similarity index; nil means exact search.
	Index model.IndexBuilder
	// Intents configures the intent detector.
	Intents model.IntentConfig
	// Knobs are the ranking settings of published records and the
	// query API's defaults.
	Knobs Knobs
}

func (c *Config) fill() error {
	if len(c.Brokers) == 0 {
		return errors.New("processor: no brokers")
	}
	if c.Group == "" {
		c.Group = "sessionrec"
	}
	if c.Names == (topics.Names{}) {
		c.Names = topics.DefaultNames()
	}
	if c.IdleAdvance == 0 {
		c.IdleAdvance = 30 * time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.InputWait == 0 {
		c.InputWait = 2 * time.Second
	}
	if c.StartOffset == 0 {
		c.StartOffset = kafka.FirstOffset
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.BrokerTimeout == 0 {
		c.BrokerTimeout = 5 * time.Minute
	}
	if c.AttributionWindow == 0 {
		c.AttributionWindow = 30 * time.Minute
	}
	if c.MaxModelBytes == 0 {
		c.MaxModelBytes = topics.DefaultMaxModelBytes
	}
	if c.Standby < 0 {
		return fmt.Errorf("processor: standby %d: want >= 0", c.Standby)
	}
	if c.MaxModelBytes < 0 {
		return fmt.Errorf("processor: max model bytes %d: want > 0", c.MaxModelBytes)
	}
	if c.ModelVerifyKey != nil && len(c.ModelVerifyKey) != ed25519.PublicKeySize {
		return fmt.Errorf("processor: model verify key: %d bytes, want %d", len(c.ModelVerifyKey), ed25519.PublicKeySize)
	}
	split, err := normaliseSplit(c.Split)
	if err != nil {
		return err
	}
	c.Split = split
	c.Sessions.fill()
	return c.Names.Validate()
}

// Processor is the stream processor: a member of a consumer group over
// the clicks and purchases topics that runs one worker per assigned
// partition number. It is safe for concurrent use.
type Processor struct {
	cfg    Config
	db     *store.DB
	admin  *topics.Admin
	engine atomic.Pointer[Engine]
	recs   *kafka.Writer
	dlq    *kafka.Writer
	// transport is the writers'; its idle connections close with Run.
	transport *kafka.Transport

	ready   atomic.Bool
	noModel sync.Once
	// brokers tracks whether the brokers answer (outage.go).
	brokers outage

	// owned maps each partition a worker runs to its last committed
	// checkpoint (whose offsets map is never changed once committed): the
	// offsets for the lag metric, the watermark for the query API's clock.
	mu    sync.Mutex
	owned map[int32]store.Checkpoint
	// partitionIDs are the input topics' partitions, 0 to n-1, for the
	// query API's placement of users; nil until Run has checked the topics.
	partitionIDs atomic.Pointer[[]int]
	cat          *catalogue

	// self is what the instance says of itself when it joins the group
	// (stickyBalancer).
	self *memberState
	// table holds the partitions' state: the store and the changelog.
	table *table
	// out publishes recommendations and dead letters.
	out *publisher
	// views follow the items and models topics.
	views *views
	// attr sums the attribution counts of the committed batches.
	attr *attribution

	// owners caches which member's API owns each partition (ownerOf).
	ownersMu sync.Mutex
	owners   map[int32]string
	ownersAt time.Time
}

// New builds a processor over an open store; the caller keeps ownership of
// db and closes it after Run returns.
func New(cfg Config, db *store.DB) (*Processor, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	// The writers' own transport: kafka-go's shared default caches topic
	// metadata, and would call a topic created meanwhile unknown.
	tr := cfg.Security.Transport()
	w := func(t topics.Topic) *kafka.Writer {
		return &kafka.Writer{
			Transport: tr,
			Addr:      kafka.TCP(cfg.Brokers...),
			Topic:     string(t),
			Balancer:  &kafka.Murmur2Balancer{},
			// Records leave within milliseconds: the latency from event
			// to recommendation is the product.
			BatchTimeout: 2 * time.Millisecond,
			// All in-sync replicas: a recommendation or dead letter the
			// processor went past must not be lost with a leader.
			RequiredAcks: kafka.RequireAll,
		}
	}
	p := &Processor{cfg: cfg, db: db, transport: tr, recs: w(cfg.Names.Recommendations), dlq: w(cfg.Names.DeadLetters),
		owned: map[int32]store.Checkpoint{}, attr: newAttribution(cfg.Now()), cat: newCatalogue(cfg.Catalog, max(1, len(cfg.Split)))}
	p.out = &publisher{cfg: &p.cfg, recs: p.recs, dlq: p.dlq, brokers: &p.brokers}
	p.views = &views{cfg: &p.cfg, db: db, brokers: &p.brokers, out: p.out, cat: p.cat, engine: p.Engine, setEngine: p.SetEngine}
	p.table = &table{cfg: &p.cfg, db: db, brokers: &p.brokers, topic: topics.Changelog(cfg.Group)}
	p.self = &memberState{advertise: cfg.Advertise, held: p.table.held}
	p.brokers.cfg = &p.cfg
	return p, nil
}

// SetEngine makes e the model of every event handled from now on; nil
// unloads the model. An event is handled by one engine from start to end.
// With an A/B split, e serves every user, with no arm, until the next
// model of an arm is served.
func (p *Processor) SetEngine(e *Engine) {
	p.engine.Store(e)
	p.cfg.Metrics.model(e, p.cfg.Now())
}

// Engine returns the current engine, nil when no model is loaded. With an
// A/B split it is arm A's (B's while A has none), and carries both: it
// serves the catalogue and the item endpoints, and finds each user's
// arm's engine for the records and the query API.
func (p *Processor) Engine() *Engine { return p.engine.Load() }

// Ready reports whether the processor is in a consumer group generation
// with its partitions' state loaded, reaches the brokers, and has a
// working store.
func (p *Processor) Ready() bool {
	return p.ready.Load() && p.brokers.reachable() && p.db.Err() == nil
}

// Healthy reports whether the processor can go on: false once its store
// has failed or the brokers have not answered for BrokerTimeout (Run then
// returns an error, and the process should exit).
func (p *Processor) Healthy() bool {
	return p.db.Err() == nil && p.brokers.downFor(p.cfg.Now()) < p.cfg.BrokerTimeout
}

// Run joins the consumer group and processes until ctx ends or a fatal
// error: the store failed (store.ErrFailed), the brokers answered nothing
// for BrokerTimeout (ErrBrokersUnreachable), or a partition cannot go on.
// On return the writers are closed; the store is the caller's.
func (p *Processor) Run(ctx context.Context) (err error) {
	cfg := p.cfg
	ctx, fail := context.WithCancelCause(ctx)
	var watch sync.WaitGroup
	defer watch.Wait()
	defer fail(nil)
	watch.Go(func() { p.watchHealth(ctx, fail) })
	defer func() {
		// A failure the watch saw ended ctx: it is Run's error.
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			err = errors.Join(cause, err)
		}
	}()
	adm, err := topics.NewAdmin(cfg.Brokers, topics.WithSecurity(cfg.Security))
	if err != nil {
		return err
	}
	defer adm.Close()
	// Credentials or TLS settings the brokers refuse fail at once.
	if err := adm.Reach(ctx); err != nil {
		return err
	}
	p.ownersMu.Lock() // ownerOf reads it from the API's goroutines
	p.admin = adm
	p.ownersMu.Unlock()
	p.table.admin = adm // read by workers and standbys, started after this
	p.views.admin = adm // and by the followers
	// Refuse to run when clicks and purchases are not co-partitioned.
	layout, err := adm.CheckStream(ctx, cfg.Names)
	if err != nil {
		return err
	}
	// The group's changelog: created with the input partition count when
	// missing, refused when it has another or is not compacted.
	if err := adm.CreateChangelog(ctx, cfg.Group, layout.Partitions); err != nil {
		return err
	}
	// The erasures topic, read with the inputs: created when missing (a
	// deployment whose topics predate it), refused when not
	// co-partitioned with them.
	if err := adm.CreateErasures(ctx, cfg.Names, layout.Partitions); err != nil {
		return err
	}
	ids := make([]int, layout.Partitions)
	for i := range ids {
		ids[i] = i
	}
	p.partitionIDs.Store(&ids)

	// The catalogue first: events of items it has not read yet would be
	// dead letters.
	var follower sync.WaitGroup
	fctx, stopFollowing := context.WithCancel(ctx)
	defer func() {
		stopFollowing()
		follower.Wait()
	}()
	followErr := make(chan error, 2)
	if _, err := adm.EndOffsets(ctx, cfg.Names.Items); err != nil {
		var missing *topics.MissingTopicsError
		if !errors.As(err, &missing) {
			return err
		}
		cfg.Logger.Warn("no items topic: the catalogue is the model's and --catalog's", "topic", cfg.Names.Items)
		p.cat.mu.Lock()
		p.cat.markLoaded()
		err := p.views.buildEngineLocked()
		p.cat.mu.Unlock()
		if err != nil {
			return err
		}
	} else {
		follower.Go(func() {
			if err := p.views.followItems(fctx); err != nil {
				followErr <- fmt.Errorf("processor: follow the items topic: %w", err)
			}
		})
		select {
		case <-p.cat.loaded:
		case err := <-followErr:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	// Then the models topic, whose newest model replaces --model's.
	if _, err := adm.EndOffsets(ctx, cfg.Names.Models); err != nil {
		var missing *topics.MissingTopicsError
		if !errors.As(err, &missing) {
			return err
		}
		cfg.Logger.Warn("no models topic: no live model rollout", "topic", cfg.Names.Models)
		p.views.armsCaughtUp()
	} else {
		mf := newModelFollower(p.views)
		follower.Go(func() {
			if err := p.views.followModels(fctx, mf); err != nil {
				followErr <- fmt.Errorf("processor: follow the models topic: %w", err)
			}
		})
		select {
		case <-mf.loaded:
		case err := <-followErr:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: cfg.Group, Brokers: cfg.Brokers, Dialer: cfg.Security.Dialer(),
		Topics: []string{string(cfg.Names.Clicks), string(cfg.Names.Purchases)},
		// Both balancers give partition p of clicks and of purchases to
		// the same member: both topics have the same partition count.
		// The sticky balancer first; the range balancer is for a group
		// that still has members of a version without it.
		GroupBalancers:    []kafka.GroupBalancer{stickyBalancer{self: p.self}, advertisingBalancer{addr: cfg.Advertise}},
		SessionTimeout:    cfg.SessionTimeout,
		HeartbeatInterval: cfg.HeartbeatInterval,
		RebalanceTimeout:  cfg.SessionTimeout,
		StartOffset:       cfg.StartOffset,
		Logger:            kafka.LoggerFunc(func(string, ...any) {}),
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Logger.Debug("consumer group", "msg", fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return fmt.Errorf("processor: join group %s: %w", cfg.Group, err)
	}
	var lagLoop sync.WaitGroup
	lctx, stopLag := context.WithCancel(ctx)
	if cfg.LagInterval > 0 {
		lagLoop.Go(func() { p.measureLag(lctx) })
	}
	runErr := p.loop(ctx, group, followErr)
	stopLag()
	lagLoop.Wait()
	p.ready.Store(false)
	err = errors.Join(runErr, group.Close(), p.recs.Close(), p.dlq.Close())
	p.transport.CloseIdleConnections()
	return err
}

func (p *Processor) loop(ctx context.Context, group *kafka.ConsumerGroup, followErr <-chan error) error {
	var b backoff
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, kafka.ErrGroupClosed) {
				return fmt.Errorf("processor: next generation: %w", err)
			}
			// A fresh cluster answers "coordinator not available" until
			// its offsets topic exists; a member that joins while a dead
			// one's session runs out is told "rebalance in progress"; a
			// moved coordinator says "not coordinator"; a paused or
			// restarting broker times out or refuses connections. A
			// stream processor outlives all of these: it joins again
			// with backoff, and the health watch ends Run if the brokers
			// stay silent for BrokerTimeout.
			p.brokers.failed("group", err)
			if !b.wait(ctx) {
				return nil
			}
			continue
		}
		p.brokers.ok()
		b.reset()
		ids := map[int32]map[topics.Topic]int64{}
		for topic, as := range gen.Assignments {
			for _, a := range as {
				if ids[int32(a.ID)] == nil {
					ids[int32(a.ID)] = map[topics.Topic]int64{}
				}
				ids[int32(a.ID)][topics.Topic(topic)] = a.Offset
			}
		}
		owned := slices.Sorted(maps.Keys(ids))
		p.self.setOwned(gen.ID, owned)
		p.cfg.Logger.Info("partitions assigned", "generation", gen.ID, "member", gen.MemberID, "partitions", formatPartitions(owned))
		// Each generation has its own error channel, with room for every
		// worker: an error of a worker of an ended generation is never
		// taken for one of the next.
		genErr := make(chan error, len(ids))
		var started sync.WaitGroup
		for id, committed := range ids {
			started.Add(1)
			gen.Start(func(gctx context.Context) {
				if err := p.runPartition(gctx, gen, id, committed, sync.OnceFunc(started.Done)); err != nil && gctx.Err() == nil {
					genErr <- fmt.Errorf("processor: partition %d: %w", id, err)
				}
			})
		}
		ended := make(chan struct{})
		gen.Start(func(gctx context.Context) {
			<-gctx.Done()
			close(ended)
		})
		started.Wait()
		p.ready.Store(true)
		if standbys, err := p.table.standbyPartitions(ctx, gen); err != nil {
			p.cfg.Logger.Warn("standby replicas: the group's assignment is unknown; none this generation", "err", err)
		} else {
			if len(standbys) > 0 {
				p.cfg.Logger.Info("standby replicas", "generation", gen.ID, "partitions", formatPartitions(standbys))
			}
			for _, id := range standbys {
				gen.Start(func(gctx context.Context) { p.table.standby(gctx, id) })
			}
		}
		select {
		case err := <-genErr:
			return err
		case err := <-followErr:
			return err
		case <-ctx.Done():
			return nil
		case <-ended:
			p.ready.Store(false)
		}
	}
}

// errRestart marks a partition worker's error after which the partition
// is taken again (claimed, restored, read) if this instance still owns it:
// a changelog transaction that failed or was fenced.
var errRestart = errors.New("processor: partition restarts")

// runPartition runs a partition's worker for the length of a generation,
// and again after an errRestart error while the instance is still a member
// of the generation. An instance that is not, or whose changelog write was
// fenced by a newer owner, stops the partition.
func (p *Processor) runPartition(ctx context.Context, gen *kafka.Generation, id int32, committed map[topics.Topic]int64, ready func()) error {
	var b backoff
	for {
		err := newWorker(p, gen, id, committed).run(ctx, ready)
		if err == nil || ctx.Err() != nil || !errors.Is(err, errRestart) {
			return err
		}
		p.cfg.Logger.Warn("partition interrupted: taking it again if this instance still owns it", "partition", id, "err", err)
		if !b.wait(ctx) {
			return nil
		}
		if !p.member(ctx, gen, id, committed) {
			p.cfg.Metrics.fencedPartition()
			p.cfg.Logger.Error("stale owner: this instance is no longer in the group generation that gave it the partition, or a newer owner claimed it; the partition stops here until the group assigns it again",
				"partition", id, "generation", gen.ID, "err", err)
			return nil
		}
	}
}

// member reports whether the instance is still a member of gen, by
// committing the partition's offsets again (the store's, which the
// group's never pass) with gen's generation ID: the coordinator refuses
// it from a member of an older generation. Errors that say neither are
// retried until ctx ends.
func (p *Processor) member(ctx context.Context, gen *kafka.Generation, id int32, committed map[topics.Topic]int64) bool {
	offs := map[string]map[int]int64{}
	if cp, err := p.db.Checkpoint(id); err == nil {
		for t, o := range cp.Offsets {
			offs[t] = map[int]int64{int(id): o}
		}
	}
	for t, o := range committed {
		if m := offs[string(t)]; o >= 0 && (m == nil || m[int(id)] < o) {
			offs[string(t)] = map[int]int64{int(id): o}
		}
	}
	if len(offs) == 0 {
		return ctx.Err() == nil // nothing to commit yet: no way to ask
	}
	var b backoff
	for {
		err := gen.CommitOffsets(offs)
		if err == nil {
			return true
		}
		var kerr kafka.Error
		if errors.As(err, &kerr) && (kerr == kafka.IllegalGeneration || kerr == kafka.UnknownMemberId || kerr == kafka.RebalanceInProgress || kerr == kafka.FencedInstanceID) {
			return false
		}
		if !b.wait(ctx) {
			return false
		}
	}
}

// own records a partition's checkpoint after a commit.
func (p *Processor) own(id int32, cp store.Checkpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.owned[id] = cp
}

// ownedCheckpoint returns the last committed checkpoint of a partition the
// instance owns, false for any other.
func (p *Processor) ownedCheckpoint(id int32) (store.Checkpoint, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cp, ok := p.owned[id]
	return cp, ok
}

// release forgets a partition this instance no longer runs, and its gauges.
func (p *Processor) release(id int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.owned, id)
	p.cfg.Metrics.released(id, p.cfg.Names.Clicks, p.cfg.Names.Purchases)
}

// measureLag sets the lag metric of every owned partition each
// LagInterval: the input topics' end offsets, read through kadm, minus the
// next offsets in the store. Its requests are also the processor's probe
// of the brokers (outage).
func (p *Processor) measureLag(ctx context.Context) {
	t := time.NewTicker(p.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, topic := range []topics.Topic{p.cfg.Names.Clicks, p.cfg.Names.Purchases} {
			actx, cancel := context.WithTimeout(ctx, p.cfg.LagInterval)
			ends, err := p.admin.EndOffsets(actx, topic)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					p.brokers.failed("admin", err)
				}
				continue
			}
			p.brokers.ok()
			p.mu.Lock()
			for id, cp := range p.owned {
				end, ok := ends[id]
				if !ok {
					continue
				}
				next, ok := cp.Offsets[string(topic)]
				if !ok {
					next = 0 // nothing applied yet: the partition from its start
				}
				p.cfg.Metrics.lagged(topic, id, max(end-next, 0))
			}
			p.mu.Unlock()
		}
	}
}

// advertisingBalancer is the range balancer with the member's query API
// address as its user data.
type advertisingBalancer struct {
	kafka.RangeGroupBalancer
	addr string
}

func (b advertisingBalancer) UserData() ([]byte, error) { return []byte(b.addr), nil }

// ownersTTL is how long the partition owners read from the group
// coordinator are used before they are read again.
const ownersTTL = 2 * time.Second

// ownerOf returns the advertised query API address of the member that owns
// an input partition, "" when unknown.
func (p *Processor) ownerOf(part int32) string {
	p.ownersMu.Lock()
	defer p.ownersMu.Unlock()
	if p.admin == nil {
		return ""
	}
	if time.Since(p.ownersAt) > ownersTTL {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		members, err := p.admin.GroupMembers(ctx, p.cfg.Group)
		cancel()
		p.ownersAt = time.Now() // an answer or not, ask again only after the TTL
		if err != nil {
			p.cfg.Logger.Debug("group members", "err", err)
			p.owners = nil
			return ""
		}
		p.owners = map[int32]string{}
		for _, m := range members {
			addr := decodeMemberData(m.UserData).Advertise
			for _, q := range m.Assigned[p.cfg.Names.Clicks] {
				p.owners[q] = addr
			}
		}
	}
	return p.owners[part]
}
