package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/topics"
)

// runBench measures the processor on a synthetic shop: sustained events/s
// (events produced as fast as possible, timed until all are applied) and
// latency at a fixed rate: events are stamped as they are sent, and a
// record's latency is when a consumer of the recommendations topic reads it
// minus the time of the event that triggered it (event to publish, plus
// the consumer's fetch).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers    = fs.String("brokers", "", "Kafka brokers (default: an in-process kfake broker)")
		items      = fs.Int("items", 100_000, "catalogue size")
		users      = fs.Int("users", 10_000, "shoppers")
		events     = fs.Int("events", 200_000, "events of the throughput phase")
		rate       = fs.Int("rate", 2000, "events/s of the latency phase")
		duration   = fs.Duration("duration", 30*time.Second, "length of the latency phase")
		partitions = fs.Int("partitions", 4, "partitions of the topics")
		index      = fs.String("index", "auto", "similarity index: exact, ivf or auto")
		cpuProfile = fs.String("cpuprofile", "", "write a CPU profile of both phases to this file (go tool pprof)")
		apiRate    = fs.Int("api-rate", 200, "query API requests/s during the latency phase (0: none)")
		apiFor     = fs.Duration("api-duration", 10*time.Second, "how long the query API is asked, during the latency phase (from its third second)")
		streamers  = fs.Int("stream-clients", 0, "clients that follow /v1/stream (every user's events and records) through the throughput phase, to measure what the fan-out costs (0: none)")
		apiFlood   = fs.Int("api-flood", 0, "clients that flood the query API with expensive requests (k=50, diversity=1) back to back while it is asked (0: none)")
		attrWindow = fs.Duration("attribution-window", 30*time.Minute, "the processor's --attribution-window (negative: attribution off, to measure what it costs)")
		sec        securityFlags
	)
	sec.register(fs)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	if *brokers == "" && sec.set() {
		return errors.New("TLS and SASL are for a real cluster: give --brokers")
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bl := brokerList(*brokers)
	kind := "real"
	if len(bl) == 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
		if err != nil {
			return err
		}
		defer c.Close()
		bl, kind = c.ListenAddrs(), "kfake"
	}
	sfx := fmt.Sprintf("-bench-%d", rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	adm, security, err := sec.admin(ctx, bl)
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := adm.Create(ctx, names, topics.TopicConfig{Partitions: int32(*partitions)}); err != nil {
		return err
	}

	// The model: trained on past sessions; the catalogue of all items is
	// encoded from their features (most items are cold).
	shop := synth.NewShopSize(1, *items)
	catalog, corpus := shopCorpus(shop, shop.Sessions(1, synth.SessionConfig{Users: *users, Sessions: 20_000}))
	start := time.Now()
	m, err := model.Train(corpus, model.TrainConfig{Epochs: 5, Seed: 1})
	if err != nil {
		return err
	}
	build, err := indexBuilder(*index)
	if err != nil {
		return err
	}
	eng, err := processor.NewEngine(m, catalog, build, model.IntentConfig{}, benchKnobs())
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "model trained and %d items indexed in %s\n", len(catalog), time.Since(start).Round(time.Millisecond))

	db, closeStore, err := openTempStore("sessionrec-bench-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeStore()) }()
	reg := prometheus.NewRegistry()
	proc, err := processor.New(processor.Config{Brokers: bl, Security: security, Group: "bench" + sfx, Names: names, IdleAdvance: -1,
		Logger: log, Metrics: processor.NewMetrics(reg), SessionTimeout: 6 * time.Second, AttributionWindow: *attrWindow}, db)
	if err != nil {
		return err
	}
	proc.SetEngine(eng)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- proc.Run(pctx) }()
	for !proc.Ready() {
		select {
		case err := <-runErr:
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	prod := topics.NewProducer(bl, names, topics.WithSecurity(security))
	defer func() { err = errors.Join(err, prod.Close()) }()
	applied := func() float64 {
		mfs, _ := reg.Gather()
		var n float64
		for _, mf := range mfs {
			if mf.GetName() == "sessionrec_events_total" {
				for _, m := range mf.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return errors.Join(err, f.Close())
		}
		defer func() {
			pprof.StopCPUProfile()
			err = errors.Join(err, f.Close())
		}()
	}

	// Phase 1: sustained throughput.
	// Event times of this phase end a minute before the next phase starts,
	// so the sessions it opens are still open then, as in a shop that runs
	// on (rather than all of them ending at once when the clock jumps).
	const loadRate = 10_000
	loadStart := time.Now().Add(-time.Minute - time.Duration(*events)*time.Second/loadRate)
	load := liveEvents(shop, *users, *events, loadStart, 5*time.Second, loadRate)
	// With --stream-clients, they follow every event and record of both
	// phases, connecting again when dropped, as a browser's EventSource
	// does; the line about them comes last.
	if *streamers > 0 {
		srv := httptest.NewServer(proc.Handler(reg))
		sctx, sstop := context.WithCancel(ctx)
		res := followStreams(sctx, srv.URL, *streamers)
		defer func() {
			sstop()
			srv.Close()
			r := <-res
			fmt.Fprintf(stdout, "stream: %d clients received %d messages; dropped as too slow %d times, and connected again\n",
				*streamers, r.messages, r.dropped)
		}()
	}
	start = time.Now()
	cpu0 := cpuTime()
	if _, err := topics.Replay(ctx, prod, load, topics.ReplayConfig{}); err != nil {
		return err
	}
	produced := time.Since(start)
	for applied() < float64(len(load)) {
		select {
		case err := <-runErr:
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
	took := time.Since(start)
	fmt.Fprintf(stderr, "throughput phase: %.2f cores busy\n", (cpuTime()-cpu0).Seconds()/took.Seconds())
	fmt.Fprintf(stdout, "broker %s, %d items (index %s), %d users, %d partitions\n", kind, len(catalog), *index, *users, *partitions)
	fmt.Fprintf(stdout, "throughput: %d events in %s = %.0f events/s (produced in %s)\n", len(load), took.Round(time.Millisecond),
		float64(len(load))/took.Seconds(), produced.Round(time.Millisecond))

	// Phase 2: latency at a fixed rate, events stamped as they are sent.
	before, err := histograms(reg)
	if err != nil {
		return err
	}
	ends, err := adm.EndOffsets(ctx, names.Recommendations)
	if err != nil {
		return err
	}
	n := *rate * int(duration.Seconds())
	live := liveEvents(shop, *users, n, time.Now().Add(time.Second), time.Duration(float64(*users)/float64(*rate)*float64(time.Second)), *rate)
	var mu sync.Mutex
	var lat []time.Duration
	phase := time.Now().Truncate(time.Millisecond)
	rctx, rstop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for p := range *partitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: bl, Dialer: security.Dialer(), Topic: string(names.Recommendations), Partition: p, MaxWait: 500 * time.Millisecond})
		if err := r.SetOffset(ends[int32(p)]); err != nil {
			rstop()
			return err
		}
		wg.Go(func() {
			defer func() { _ = r.Close() }()
			for {
				msg, err := r.ReadMessage(rctx)
				if err != nil {
					return
				}
				got := time.Now()
				rec, err := topics.DecodeRecommendation(msg.Value)
				if err != nil || rec.Source.EventTime.Before(phase) {
					continue // a record of the throughput phase
				}
				mu.Lock()
				lat = append(lat, got.Sub(rec.Source.EventTime))
				mu.Unlock()
			}
		})
	}
	// The query API at a fixed request rate meanwhile, for the users of
	// the phase (a user not seen yet answers 404 and is counted).
	apiDone := make(chan apiResult, 1)
	floodDone := make(chan apiResult, 1)
	if *apiRate > 0 || *apiFlood > 0 {
		users := map[string]bool{}
		for _, e := range live {
			users[e.UserID] = true
		}
		ids := slices.Sorted(maps.Keys(users))
		srv := httptest.NewServer(proc.Handler(reg))
		defer srv.Close()
		if *apiRate > 0 {
			go func() {
				time.Sleep(2 * time.Second) // let the users' first events in
				res, err := benchAPI(ctx, srv.URL, ids, *apiRate, *apiFor)
				res.err = err
				apiDone <- res
			}()
		}
		if *apiFlood > 0 {
			go func() {
				time.Sleep(2 * time.Second)
				floodDone <- floodAPI(ctx, srv.URL, ids, *apiFlood, *apiFor)
			}()
		}
	}
	start = time.Now()
	if _, err := topics.Replay(ctx, prod, live, topics.ReplayConfig{Speed: 1, Chunk: 10 * time.Millisecond, Restamp: true}); err != nil {
		rstop()
		return err
	}
	sent := time.Since(start)
	time.Sleep(2 * time.Second)
	rstop()
	wg.Wait()
	slices.Sort(lat)
	q := func(f float64) time.Duration { return quantile(lat, f) }
	fmt.Fprintf(stdout, "latency: %d events at %.0f events/s over %s; %d records: event-to-consumer p50 %s, p99 %s, max %s\n",
		len(live), float64(len(live))/sent.Seconds(), sent.Round(time.Millisecond), len(lat),
		q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), q(1).Round(time.Microsecond))
	after, err := histograms(reg)
	if err != nil {
		return err
	}
	for name, h := range after {
		fmt.Fprintf(stderr, "latency phase, %s: %s\n", name, h.since(before[name]))
	}

	if *apiRate > 0 {
		res := <-apiDone
		if res.err != nil {
			return res.err
		}
		fmt.Fprintf(stdout, "query API during the latency phase: %d requests at %.0f/s over %s (GET /v1/users/{id}/recommendations?k=10&diversity=0.3): p50 %s, p99 %s, max %s; answers by status %v (404: a user without events yet)\n",
			res.n, float64(res.n)/res.took.Seconds(), res.took.Round(time.Millisecond),
			res.q(0.5).Round(time.Microsecond), res.q(0.99).Round(time.Microsecond), res.q(1).Round(time.Microsecond), res.statuses)
	}
	if *apiFlood > 0 {
		res := <-floodDone
		fmt.Fprintf(stdout, "query API flood meanwhile: %d clients, %d requests at %.0f/s over %s (GET /v1/users/{id}/recommendations?k=50&diversity=1): p50 %s, p99 %s; answers by status %v\n",
			*apiFlood, res.n, float64(res.n)/res.took.Seconds(), res.took.Round(time.Millisecond),
			res.q(0.5).Round(time.Microsecond), res.q(0.99).Round(time.Microsecond), res.statuses)
	}
	stop()
	return <-runErr
}

// floodAPI sends expensive recommendation requests (k=50, diversity=1)
// back to back from clients goroutines for d: the flood the query API's
// limits must keep from the stream.
// streamResult is what the stream clients of --stream-clients received.
type streamResult struct {
	messages, dropped int64
}

// followStreams connects clients to base's /v1/stream and reads until ctx
// ends, connecting again after a drop; the result comes once every client
// has stopped. It waits for all of them to be connected before it
// returns.
func followStreams(ctx context.Context, base string, clients int) <-chan streamResult {
	var (
		messages, dropped atomic.Int64
		connected         sync.WaitGroup
		wg                sync.WaitGroup
	)
	connected.Add(clients)
	for range clients {
		wg.Go(func() {
			once := sync.OnceFunc(connected.Done)
			defer once()
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stream", nil)
				if err != nil {
					return
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				once()
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 64<<10), 4<<20)
				for sc.Scan() {
					switch line := sc.Text(); {
					case strings.HasPrefix(line, "event: dropped"):
						dropped.Add(1)
					case strings.HasPrefix(line, "data: "):
						messages.Add(1)
					}
				}
				_ = resp.Body.Close()
			}
		})
	}
	connected.Wait()
	out := make(chan streamResult, 1)
	go func() {
		wg.Wait()
		out <- streamResult{messages: messages.Load(), dropped: dropped.Load()}
	}()
	return out
}

func floodAPI(ctx context.Context, base string, users []string, clients int, d time.Duration) apiResult {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	res := apiResult{statuses: map[int]int{}}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i += clients {
				at := time.Now()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/users/"+users[i%len(users)]+"/recommendations?k=50&diversity=1", nil)
				if err != nil {
					return
				}
				status := 0
				if resp, err := client.Do(req); err == nil {
					status = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body) // the whole answer is timed
					_ = resp.Body.Close()
				}
				if ctx.Err() != nil {
					return // cut off by the end of the flood: not an answer
				}
				mu.Lock()
				res.n++
				res.lat = append(res.lat, time.Since(at))
				res.statuses[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	slices.Sort(res.lat)
	return res
}

// apiResult is the outcome of a query API phase.
type apiResult struct {
	n        int
	statuses map[int]int // answers by HTTP status, 0 for none
	took     time.Duration
	lat      []time.Duration // sorted
	err      error
}

func (r apiResult) q(f float64) time.Duration { return quantile(r.lat, f) }

// quantile returns the f-quantile of sorted latencies, 0 for none.
func quantile(sorted []time.Duration, f float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(f*float64(len(sorted))))]
}

// benchAPI asks for recommendations of users at rate requests/s for d. A
// request's latency runs from when it was due, not when a worker got to
// it, so a stall is not hidden by requests that wait for it (coordinated
// omission).
func benchAPI(ctx context.Context, base string, users []string, rate int, d time.Duration) (apiResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	n := int(float64(rate) * d.Seconds())
	due := make(chan time.Time, n)
	var mu sync.Mutex
	res := apiResult{statuses: map[int]int{}}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			i := w
			for at := range due {
				u := users[i%len(users)]
				i += 32
				resp, err := client.Get(base + "/v1/users/" + u + "/recommendations?k=10&diversity=0.3")
				status := 0 // no answer
				if err == nil {
					status = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body) // the body is read to time the whole answer
					_ = resp.Body.Close()
				}
				took := time.Since(at)
				mu.Lock()
				res.lat = append(res.lat, took)
				res.statuses[status]++
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	step := time.Second / time.Duration(rate)
	for i := range n {
		at := start.Add(time.Duration(i) * step)
		if wait := time.Until(at); wait > 0 {
			select {
			case <-ctx.Done():
				close(due)
				wg.Wait()
				return res, ctx.Err()
			case <-time.After(wait):
			}
		}
		due <- at
	}
	close(due)
	wg.Wait()
	res.n, res.took = n, time.Since(start)
	slices.Sort(res.lat)
	return res, nil
}

// liveEvents makes n events of the shop's users, in the order their
// sessions make them (each user clicking about every gap), stamped evenly
// from start at rate events/s: the stream a shop at that rate produces.
func liveEvents(shop *synth.Shop, users, n int, start time.Time, gap time.Duration, rate int) []topics.Event {
	sessions := shop.Sessions(uint64(start.UnixNano()), synth.SessionConfig{Users: users, Sessions: n/3 + users,
		Start: start, Spacing: time.Millisecond, EventGap: gap, Rest: gap})
	stream := synth.Stream(sessions)
	out := make([]topics.Event, 0, n)
	step := time.Second / time.Duration(rate)
	for _, e := range stream {
		if len(out) == n {
			break
		}
		at := start.Add(time.Duration(len(out)) * step).Truncate(time.Millisecond)
		ev := topics.Event{Kind: topics.KindClick, UserID: e.UserID, ItemID: e.ItemID, Time: at}
		if e.Purchase {
			ev.Kind, ev.Quantity = topics.KindPurchase, 1
		}
		out = append(out, ev)
	}
	return out
}

// histogram is a Prometheus histogram's cumulative bucket counts.
type histogram struct {
	bounds []float64
	counts []uint64
}

// histograms snapshots the processor's latency histograms.
func histograms(reg *prometheus.Registry) (map[string]histogram, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]histogram{}
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_HISTOGRAM || len(mf.GetMetric()) == 0 {
			continue
		}
		var h histogram
		for _, b := range mf.GetMetric()[0].GetHistogram().GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.counts = append(h.counts, b.GetCumulativeCount())
		}
		out[mf.GetName()] = h
	}
	return out, nil
}

// since describes the observations made after before: count, and the
// bucket bounds of p50, p99 and the maximum.
func (h histogram) since(before histogram) string {
	d := make([]uint64, len(h.counts))
	for i := range d {
		d[i] = h.counts[i]
		if i < len(before.counts) {
			d[i] -= before.counts[i]
		}
	}
	if len(d) == 0 || d[len(d)-1] == 0 {
		return "no observations"
	}
	n := d[len(d)-1]
	q := func(f float64) string {
		for i, c := range d {
			if float64(c) >= f*float64(n) {
				return fmt.Sprintf("<= %gms", h.bounds[i]*1000)
			}
		}
		return "above the last bucket"
	}
	return fmt.Sprintf("%d observations, p50 %s, p99 %s, max %s", n, q(0.5), q(0.99), q(1))
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchKnobs are the defaults with the session's items left out.
func benchKnobs() processor.Knobs {
	k := processor.DefaultKnobs()
	k.ExcludeSeen = true
	return k
}
