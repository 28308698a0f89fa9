package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/store"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers     = fs.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
		group       = fs.String("group", "sessionrec", "consumer group")
		dataDir     = fs.String("data-dir", "sessionrec-data", "directory of the Pebble state")
		modelFile   = fs.String("model", "", "model artefact to recommend with (none: state is kept, nothing is published)")
		catalogFile = fs.String("catalog", "", "catalogue: JSON lines {\"item_id\",\"name\",\"category\",\"brand\",\"price\"} (default: the model's id-only items)")
		httpAddr    = fs.String("http", "localhost:9090", "address of the query API (/v1/...), /metrics, /healthz and /readyz")
		advertise   = fs.String("advertise", "", "host:port of this instance's query API as clients reach it, given by other instances in their 421 answers (default: the --http address, with this host's name if it listens on all interfaces)")
		gap         = fs.Duration("session-gap", 20*time.Minute, "a session ends after this long without events (event time)")
		grace       = fs.Duration("grace", time.Minute, "how late an event may arrive and still be placed")
		keep        = fs.Int("keep-intents", 5, "intents of closed sessions a user keeps for the next sessions (0: none)")
		idle        = fs.Duration("idle-advance", 30*time.Second, "advance an idle partition's watermark by the wall clock after this long (negative: never)")
		k           = fs.Int("k", 10, "items per recommendation")
		diversity   = fs.Float64("diversity", 0, "similarity (0) to diversity (1) trade-off")
		history     = fs.Float64("history", 0.3, "weight of past sessions' intents")
		halfLife    = fs.Duration("half-life", 24*time.Hour, "half-life of past sessions' intents")
		excludeSeen = fs.Bool("exclude-seen", true, "do not recommend items of the current session")
		syncCommits = fs.Bool("sync-commits", false, "fsync every state commit (survives machine crashes, slower)")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		batchSize   = fs.Int("batch-size", 500, "most records of one poll batch")
		sessTimeout = fs.Duration("session-timeout", 10*time.Second, "consumer group session timeout: how soon a dead instance's partitions move")
		index       = fs.String("index", "auto", "similarity index: exact, ivf, or auto (ivf above 20,000 items)")
		tf          topicFlags
	)
	tf.register(fs)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	db, err := store.Open(*dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
		Brokers: brokerList(*brokers), Group: *group, Names: tf.names(), BatchSize: *batchSize, SessionTimeout: *sessTimeout,
		Sessions:    processor.Sessionizer{Gap: *gap, Grace: *grace, KeepIntents: keepIntents(*keep)},
		IdleAdvance: *idle, SyncCommits: *syncCommits, Logger: log, Metrics: processor.NewMetrics(reg),
		Engine: processor.EngineConfig{Index: build,
			Knobs: processor.Knobs{K: *k, Diversity: *diversity, History: *history, HalfLife: *halfLife, ExcludeSeen: *excludeSeen}},
		Catalog:   seed,
		Advertise: advertiseAddr(*advertise, *httpAddr),
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
	srv := &http.Server{Handler: proc.Handler(reg), ReadHeaderTimeout: 5 * time.Second}
	log.Info("serving", "http", "http://"+ln.Addr().String(), "brokers", *brokers, "group", *group)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return proc.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	log.Info("stopped", "err", err, "cause", context.Cause(ctx))
	return err
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

// keepIntents maps the flag (0: none) to the sessionizer's setting (0:
// the default, negative: none).
func keepIntents(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
