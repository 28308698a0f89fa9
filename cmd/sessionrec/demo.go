package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/topics"
)

const (
	demoPartitions = 4
	demoGroup      = "sessionrec-demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return demo(ctx, args, stdout, stderr, nil)
}

// demo is runDemo; with --follow, it calls settled (when not nil) with the
// demo's count of the clicks once every live event is sent and the
// processor has handled them all, while the query API still serves.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer, settled func(followCount)) (err error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		duration = fs.Duration("duration", 20*time.Second, "how long to run")
		users    = fs.Int("users", 200, "shoppers in the synthetic shop")
		speed    = fs.Float64("speed", 30, "how many times faster than real time the shop's events are sent (0: as fast as possible)")
		seed     = fs.Uint64("seed", 1, "seed of the synthetic shop")
		sessions = fs.Int("sessions", 20000, "live sessions of the shop to send (a second apart, each shopper's an hour apart)")
		follow   = fs.Float64("follow", 0, "probability, from 0 to 1, that a shopper clicks one of their current recommendations at a click: a ground truth for GET /v1/attribution (0: clicks as planned)")
		window   = fs.Duration("attribution-window", 30*time.Minute, "how long after a published recommendation (event time) a click or purchase of one of its items counts as followed (GET /v1/attribution); negative: attribution off")
		httpAddr = fs.String("http", "localhost:8080", "address of the query API, /metrics, /healthz and /readyz (empty: none)")
		opsAddr  = fs.String("metrics-addr", "", "address of /metrics, /healthz and /readyz apart from the query API (empty: on the --http address)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := unitFlag("follow", *follow); err != nil {
		return err
	}
	if *follow > 0 && *window <= 0 {
		return fmt.Errorf("--follow %v needs attribution: --attribution-window %v, want more than 0", *follow, *window)
	}
	if *sessions < 1 {
		return fmt.Errorf("--sessions %d: want at least 1", *sessions)
	}
	if *speed < 0 {
		return fmt.Errorf("--speed %v: want 0 (as fast as possible) or more", *speed)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	// An in-process Kafka-protocol broker with the topics.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	names := topics.DefaultNames()
	adm, err := topics.NewAdmin(brokers)
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := adm.Create(ctx, names, topics.TopicConfig{Partitions: demoPartitions}); err != nil {
		return err
	}
	log.Info("broker up, topics created", "brokers", brokers, "partitions", demoPartitions)

	// A model trained on the shop's past sessions.
	shop := synth.NewShop(*seed)
	items, corpus := shopCorpus(shop, shop.Sessions(*seed, synth.SessionConfig{Users: *users, Sessions: 4000}))
	start := time.Now()
	m, err := model.Train(corpus, model.TrainConfig{Epochs: 10, Workers: 1, Seed: *seed}) // one worker: deterministic, and race-free under -race
	if err != nil {
		return err
	}
	m.Sessions = model.NewSessionLog(corpus, defaultNeighbourSessions)
	log.Info("model trained", "version", m.Digest(), "items", len(items), "sessions", m.Info.KeptSessions, "took", time.Since(start).Round(time.Millisecond))

	// The shop's catalogue on the items topic, as a shop publishes it.
	prod := topics.NewProducer(brokers, names)
	if err := errors.Join(prod.SendItems(ctx, shopCatalogue(shop)...), prod.Close()); err != nil {
		return err
	}

	db, closeStore, err := openTempStore("sessionrec-demo-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	proc, err := processor.New(processor.Config{Brokers: brokers, Group: demoGroup, Names: names, IdleAdvance: -1, Logger: log,
		Metrics: processor.NewMetrics(reg), Engine: processor.EngineConfig{Knobs: demoKnobs()}, AttributionWindow: *window}, db)
	if err != nil {
		return err
	}
	if err := proc.SetModel(m); err != nil {
		return err
	}
	h := proc.Handler(reg)
	if *opsAddr != "" {
		addr, stopOps, err := serveHTTP(*opsAddr, proc.OpsHandler(reg), log)
		if err != nil {
			return err
		}
		defer stopOps()
		if h, err = proc.APIHandler(processor.DefaultAPIConfig()); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "metrics on http://%s/metrics, probes on /healthz and /readyz\n", addr)
	}
	if *httpAddr != "" {
		addr, stopHTTP, err := serveHTTP(*httpAddr, h, log)
		if err != nil {
			return err
		}
		defer stopHTTP()
		// The address, and a user whose recommendations to ask for, on
		// stderr: stdout holds only the records.
		u := shop.Sessions(*seed+1, synth.SessionConfig{Users: *users, Sessions: 1})[0][0].UserID
		fmt.Fprintf(stderr, "live page on http://%s/?user=%s (open it in a browser)\n", addr, u)
		fmt.Fprintf(stderr, "query API on http://%s, e.g. curl 'http://%s/v1/users/%s/recommendations?k=5&diversity=0.5'\n", addr, addr, u)
	}

	// Live traffic: new sessions of the same shoppers. Sent --speed times
	// faster than their own pace, their event times run ahead of the wall
	// clock; the processor refuses events more than a few minutes in the
	// future (topics.Limits.MaxFuture), so the stream is stamped to start
	// in the past by as much as it gains: its last event is due when it is
	// sent. The shift is whole milliseconds, as event times on the wire
	// are, so that the times --follow judges by are the processor's.
	live := synth.Stream(shop.Sessions(*seed+1, synth.SessionConfig{Users: *users, Sessions: *sessions, Spacing: time.Second, Start: time.Now().Truncate(time.Second)}))
	if len(live) > 0 && (*speed > 1 || *speed == 0) {
		span := live[len(live)-1].Time.Sub(live[0].Time)
		shift := span // unpaced: all of it is sent at once
		if *speed > 0 {
			shift -= time.Duration(float64(span) / *speed)
		}
		shift = shift.Truncate(time.Millisecond)
		for i := range live {
			live[i].Time = live[i].Time.Add(-shift)
		}
	}
	events := make([]topics.Event, len(live))
	for i, e := range live {
		events[i] = topics.Event{Kind: topics.KindClick, UserID: e.UserID, ItemID: e.ItemID, Time: e.Time}
		if e.Purchase {
			events[i].Kind, events[i].Quantity = topics.KindPurchase, 1
		}
	}

	// With --follow, the shoppers decide their clicks on the records they
	// read, and the events are sent chunk by chunk once the processor has
	// handled the previous ones (sendFollowing).
	var f *follower
	settle := &demoSettler{adm: adm, group: demoGroup, names: names, read: make([]atomic.Int64, demoPartitions)}
	if *follow > 0 {
		f = newFollower(*follow, *window, shop, *seed)
	}

	var out sync.Mutex
	printed := 0
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return proc.Run(gctx) })
	g.Go(func() (err error) {
		prod := topics.NewProducer(brokers, names)
		defer func() { err = errors.Join(err, prod.Close()) }()
		for !proc.Ready() {
			select {
			case <-gctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
		}
		log.Info("sending the shop's events", "events", len(events), "speed", *speed, "follow", *follow)
		if f == nil {
			_, err = topics.Replay(gctx, prod, events, topics.ReplayConfig{Speed: *speed})
			return err
		}
		err = sendFollowing(gctx, prod, events, *speed, f, settle.wait)
		c := f.count()
		log.Info("shoppers followed recommendations", "follow", *follow, "eligible_clicks", c.Eligible,
			"followed_clicks", c.Followed, "rate", c.Rate(), "all_sent_and_handled", err == nil)
		if err == nil && settled != nil {
			settled(c)
		}
		return err
	})
	for p := range demoPartitions {
		g.Go(func() error {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(names.Recommendations), Partition: p, MaxWait: 500 * time.Millisecond})
			for {
				msg, err := r.ReadMessage(gctx)
				if err != nil {
					// The demo's end: the reader is cut off by the deadline.
					return r.Close()
				}
				if f != nil {
					if err := f.read(msg); err != nil {
						return errors.Join(err, r.Close())
					}
				}
				settle.read[p].Store(msg.Offset + 1)
				out.Lock()
				fmt.Fprintf(stdout, "%s\n", msg.Value)
				printed++
				out.Unlock()
			}
		})
	}
	err = g.Wait()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil {
		return err
	}
	log.Info("demo done", "recommendations printed", printed)
	return err
}

// shopCorpus converts the synthetic shop to the model's catalogue and
// training corpus.
func shopCorpus(shop *synth.Shop, sessions [][]synth.Event) ([]model.Item, model.Corpus) {
	items := make([]model.Item, len(shop.Items))
	index := make(map[string]int32, len(items))
	for i, it := range shop.Items {
		items[i] = model.Item{ID: it.ID, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price}
		index[it.ID] = int32(i)
	}
	c := model.Corpus{Items: items}
	for _, s := range sessions {
		evs := make([]model.Event, len(s))
		for i, e := range s {
			evs[i] = model.Event{Item: index[e.ItemID], Purchase: e.Purchase}
		}
		c.Sessions = append(c.Sessions, evs)
	}
	return items, c
}

// demoKnobs are the defaults with 5 items and the session's items left out.
func demoKnobs() processor.Knobs {
	k := processor.DefaultKnobs()
	k.K, k.ExcludeSeen = 5, true
	return k
}

// shopCatalogue is the synthetic shop's catalogue as items-topic records.
func shopCatalogue(shop *synth.Shop) []topics.Item {
	out := make([]topics.Item, len(shop.Items))
	for i, it := range shop.Items {
		out[i] = topics.Item{ItemID: it.ID, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price}
	}
	return out
}
