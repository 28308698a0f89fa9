package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers       = fs.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
		group         = fs.String("group", "sessionrec", "consumer group")
		dataDir       = fs.String("data-dir", "sessionrec-data", "directory of the Pebble state")
		modelFile     = fs.String("model", "", "model artefact to recommend with (none: state is kept, nothing is published)")
		catalogFile   = fs.String("catalog", "", "catalogue: JSON lines {\"item_id\",\"name\",\"category\",\"brand\",\"price\"} (default: the model's id-only items)")
		httpAddr      = fs.String("http", "localhost:9090", "address of the query API (/v1/...), /metrics, /healthz and /readyz")
		advertise     = fs.String("advertise", "", "host:port of this instance's query API as clients reach it, given by other instances in their 421 answers (default: the --http address, with this host's name if it listens on all interfaces)")
		metricsAddr   = fs.String("metrics-addr", "", "address of /metrics, /healthz and /readyz apart from the query API, so that a flood of queries cannot starve them (empty: on the --http address)")
		apiInflight   = fs.Int("api-max-inflight", processor.DefaultAPIMaxInFlight, "most query API requests served at once; beyond them 429 with Retry-After")
		apiShare      = fs.Float64("api-worker-share", processor.DefaultAPIWorkerShare, "share of its time a query API worker may work (it rests in proportion after each request), so a flood takes at most --api-workers × this many cores; 1: no rest")
		apiWorkers    = fs.Int("api-workers", processor.DefaultAPIWorkers(), "query API requests worked on at once (the others in flight wait, within --api-timeout): the cores a flood of queries can take from the stream")
		apiTimeout    = fs.Duration("api-timeout", processor.DefaultAPITimeout, "deadline of a query API request: a ranking still running then stops, and the request answers 503")
		apiMaxWork    = fs.Int("api-max-work", processor.DefaultAPIMaxWork, "most ranking work a query API request may ask for: k × max(3k, k+20) with diversity > 0 (the default allows k up to 50 with diversity); above it 400")
		apiTokenFile  = fs.String("api-token-file", "", "`file` holding the bearer token every /v1/ request must carry (Authorization: Bearer <token>; surrounding whitespace is trimmed), else 401; /metrics, /healthz and /readyz stay open (empty: no token)")
		gap           = fs.Duration("session-gap", 20*time.Minute, "a session ends after this long without events (event time)")
		grace         = fs.Duration("grace", time.Minute, "how late an event may arrive and still be placed")
		keep          = fs.Int("keep-intents", 5, "intents of closed sessions a user keeps for the next sessions (0: none)")
		idle          = fs.Duration("idle-advance", 30*time.Second, "advance an idle partition's watermark by the wall clock after this long (negative: never)")
		k             = fs.Int("k", 10, "items per recommendation")
		diversity     = fs.Float64("diversity", 0, "similarity (0) to diversity (1) trade-off")
		history       = fs.Float64("history", 0.3, "weight of past sessions' intents")
		neighbours    = fs.Float64("neighbours", model.DefaultNeighbours, "weight in [0, 1] of the neighbourhood term (what training sessions like the user's went on to) against the item vectors; 0: the vectors alone")
		halfLife      = fs.Duration("half-life", 24*time.Hour, "half-life of past sessions' intents")
		excludeSeen   = fs.Bool("exclude-seen", true, "do not recommend items of the current session")
		syncCommits   = fs.Bool("sync-commits", false, "fsync every state commit (survives machine crashes, slower)")
		logLevel      = fs.String("log-level", "info", "debug, info, warn or error")
		batchSize     = fs.Int("batch-size", 500, "most records of one poll batch")
		maxModelBytes = fs.Int64("max-model-bytes", topics.DefaultMaxModelBytes, "largest model artefact taken from the models topic: a manifest over it is refused (reason too_large) before any chunk is held, and the chunks held waiting for their manifest are at most this many bytes")
		verifyKey     = fs.String("model-verify-key", "", "Ed25519 public key `file` (PEM, from sessionrec keygen) that must have signed every model from the models topic (train --sign-key): one unsigned or signed otherwise is refused (reason bad_signature); empty: models are not verified")
		brokerTimeout = fs.Duration("broker-timeout", 5*time.Minute, "how long a broker outage is ridden through (retries with backoff, /readyz failing) before the instance exits non-zero for a restart")
		maxFuture     = fs.Duration("max-future", topics.DefaultMaxFuture, "an event whose time is further than this ahead of the wall clock when it is read is a dead letter (reason timestamp) and never moves the watermark")
		maxEvents     = fs.Int("max-session-events", processor.DefaultMaxSessionEvents, "most open events a user keeps: an event past it closes the session and starts a new one (0: no bound)")
		sessTimeout   = fs.Duration("session-timeout", 10*time.Second, "consumer group session timeout: how soon a dead instance's partitions move")
		standby       = fs.Int("standby", 0, "partitions of other instances whose changelog this one follows, so that taking one over after a crash restores only the changelog's tail")
		index         = fs.String("index", "auto", "similarity index: exact, ivf, or auto (ivf above 20,000 items)")
		attrWindow    = fs.Duration("attribution-window", 30*time.Minute, "how long after a published recommendation (event time) a click or purchase of one of its items counts as followed (GET /v1/attribution, sessionrec_recommendations_followed_total); negative: attribution off")
		tf            topicFlags
		sec           securityFlags
		ab            abFlag
	)
	fs.Var(&ab, "ab", "an A/B test: `VERSION_A=SHARE,VERSION_B=SHARE` (e.g. m-1=90,m-2=10), two model versions from the models topic each serving its share of the users, by a stable hash of the user id; records and the query API say the arm (empty: no split, the newest model serves)")
	tf.register(fs)
	sec.register(fs)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	security, err := sec.build()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var modelKey ed25519.PublicKey
	if *verifyKey != "" {
		if modelKey, err = readVerifyKey(*verifyKey); err != nil {
			return err
		}
	} else {
		log.Warn("models from the models topic are not verified: set --model-verify-key")
	}
	apiToken, err := readAPIToken(*apiTokenFile)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := processor.NewMetrics(reg)
	db, err := store.Open(*dataDir, store.Options{OnError: func(kind string, err error) {
		metrics.StoreError(kind)
		log.Error("store error", "kind", kind, "err", err)
	}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	build, err := indexBuilder(*index)
	if err != nil {
		return err
	}
	var seed []model.Item
	if *catalogFile != "" {
		if seed, err = readCatalog(*catalogFile); err != nil {
			return err
		}
	}
	proc, err := processor.New(processor.Config{
		Brokers: brokerList(*brokers), Security: security, Group: *group, Names: tf.names(), BatchSize: *batchSize, SessionTimeout: *sessTimeout,
		Sessions:    processor.Sessionizer{Gap: *gap, Grace: *grace, KeepIntents: noneAtZero(*keep), MaxEvents: noneAtZero(*maxEvents)},
		Limits:      topics.Limits{MaxFuture: *maxFuture},
		IdleAdvance: *idle, SyncCommits: *syncCommits, Logger: log, Metrics: metrics, BrokerTimeout: *brokerTimeout,
		Engine: processor.EngineConfig{Index: build,
			Knobs: processor.Knobs{K: *k, Diversity: *diversity, History: *history, HalfLife: *halfLife, Neighbours: *neighbours, ExcludeSeen: *excludeSeen}},
		Catalog:       seed,
		Advertise:     advertiseAddr(*advertise, *httpAddr),
		Standby:       *standby,
		MaxModelBytes: *maxModelBytes, ModelVerifyKey: modelKey, Split: ab,
		AttributionWindow: *attrWindow,
	}, db)
	if err != nil {
		return err
	}
	if *modelFile != "" {
		m, err := readModel(*modelFile)
		if err != nil {
			return err
		}
		if err := proc.SetModel(m); err != nil {
			return err
		}
		log.Info("model read; it serves once the catalogue is loaded", "version", m.Info.Version, "file", *modelFile)
	}

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	api, err := proc.APIHandler(processor.APIConfig{MaxInFlight: *apiInflight, Workers: *apiWorkers, WorkerShare: *apiShare, Timeout: *apiTimeout, MaxWork: *apiMaxWork,
		Token: apiToken})
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	handler := processor.Combine(proc.OpsHandler(reg), api)
	if *metricsAddr != "" {
		addr, stopOps, err := serveHTTP(*metricsAddr, proc.OpsHandler(reg), log)
		if err != nil {
			return errors.Join(err, ln.Close())
		}
		defer stopOps()
		handler = api
		log.Info("serving /metrics, /healthz and /readyz apart from the query API", "metrics", "http://"+addr)
	}
	srv := newHTTPServer(handler)
	log.Info("serving", "http", "http://"+ln.Addr().String(), "brokers", *brokers, "kafka_security", security.String(), "group", *group)
	g, gctx := errgroup.WithContext(ctx)
	finished := make(chan struct{})
	defer close(finished)
	go exitIfStuck(gctx, finished, log)
	g.Go(func() error { return proc.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownHTTP(srv)
		return nil
	})
	err = g.Wait()
	log.Info("stopped", "err", err, "cause", context.Cause(ctx))
	return err
}

// shutdownGrace bounds how long run may take to stop once it is told to
// or fails.
const shutdownGrace = 30 * time.Second

// exitIfStuck ends the process, with status 1, when run has not returned
// (closed finished) shutdownGrace after ctx ended: a failed disk can leave
// a store commit that never returns, and an instance that neither works
// nor exits would never be restarted.
func exitIfStuck(ctx context.Context, finished <-chan struct{}, log *slog.Logger) {
	select {
	case <-ctx.Done():
	case <-finished:
		return
	}
	select {
	case <-finished:
	case <-time.After(shutdownGrace):
		log.Error("shutdown stuck: exiting", "grace", shutdownGrace, "cause", context.Cause(ctx))
		os.Exit(1)
	}
}

// readModel reads a model artefact file.
func readModel(path string) (*model.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := model.Read(bufio.NewReader(f))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

// indexBuilder chooses the similarity index: exact search scans every item
// (about 1 ms per query at 100k items), IVF scans the closest clusters
// (about 0.1 ms at recall@20 0.99; see the README's benchmarks).
func indexBuilder(name string) (model.IndexBuilder, error) {
	ivf := func(dim int, v []float32) (model.Index, error) {
		return model.NewIVFIndex(dim, v, model.IVFConfig{Workers: 2})
	}
	switch name {
	case "exact":
		return model.ExactIndexBuilder, nil
	case "ivf":
		return ivf, nil
	case "auto":
		// Decided at each build, as the catalogue grows and shrinks.
		return func(dim int, v []float32) (model.Index, error) {
			if dim > 0 && len(v)/dim > 20_000 {
				return ivf(dim, v)
			}
			return model.ExactIndexBuilder(dim, v)
		}, nil
	}
	return nil, fmt.Errorf("-index %q: want exact, ivf or auto", name)
}

// readCatalog reads a catalogue file (see readItemFile) for the model.
func readCatalog(path string) ([]model.Item, error) {
	recs, err := readItemFile(path)
	if err != nil {
		return nil, err
	}
	items := make([]model.Item, len(recs))
	for i, r := range recs {
		items[i] = processor.ModelItem(r)
	}
	return items, nil
}

// advertiseAddr is the query API address other instances give clients:
// the one asked for, else the listen address, with the host's name when it
// listens on all interfaces.
func advertiseAddr(advertise, listen string) string {
	if advertise != "" {
		return advertise
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return net.JoinHostPort(host, port)
}

// noneAtZero maps a flag where 0 means none (--keep-intents,
// --max-session-events) to the sessionizer's setting, where 0 means the
// default and a negative value none.
func noneAtZero(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// readAPIToken reads the query API's bearer token from path, its
// surrounding whitespace trimmed; "" when path is "". A file without a
// token is an error: taken as no token, it would leave the API open to
// an operator who believes it closed.
func readAPIToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--api-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("--api-token-file %s: the file holds no token", path)
	}
	return token, nil
}
