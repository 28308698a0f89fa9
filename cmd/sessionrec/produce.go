package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

func runProduce(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "items" {
		return runProduceItems(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers = fs.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
		file    = fs.String("file", "", `events as JSON lines: a click or purchase object with "kind":"click"|"purchase" (instead of -dataset)`)
		speed   = fs.Float64("speed", 0, "pace: 0 as fast as possible, 1 the events' own pace, N N times faster")
		shift   = fs.Bool("shift-to-now", false, "shift event times so that the first event happens now")
		limit   = fs.Int("limit", 0, "send at most this many events (0: all)")
		noIDs   = fs.Bool("no-event-ids", false, "send dataset events without event_id")
		df      dataFlags
		tf      topicFlags
		sec     securityFlags
	)
	tf.register(fs)
	sec.register(fs)
	df.register(fs, "")
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	var events []topics.Event
	switch {
	case *file != "":
		events, err = readEventFile(*file)
	case df.name != "":
		var d *dataset.Dataset
		if d, err = df.load(); err == nil {
			events = datasetEvents(d, !*noIDs)
		}
	default:
		err = errors.New("give -dataset or -file")
	}
	if err != nil {
		return err
	}
	if *limit > 0 && len(events) > *limit {
		events = events[:*limit]
	}
	if *shift && len(events) > 0 {
		d := time.Since(events[0].Time)
		for i := range events {
			events[i].Time = events[i].Time.Add(d).Truncate(time.Millisecond)
		}
	}
	security, err := sec.reach(ctx, brokerList(*brokers))
	if err != nil {
		return err
	}
	prod := topics.NewProducer(brokerList(*brokers), tf.names(), topics.WithSecurity(security))
	defer func() { err = errors.Join(err, prod.Close()) }()
	start := time.Now()
	last := start
	n, err := topics.Replay(ctx, prod, events, topics.ReplayConfig{Speed: *speed, Progress: func(sent int) {
		if time.Since(last) >= time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "sent %d of %d events (%.0f/s)\n", sent, len(events), float64(sent)/time.Since(start).Seconds())
		}
	}})
	el := time.Since(start)
	fmt.Fprintf(stdout, "sent %d events in %s (%.0f events/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	return err
}

// datasetEvents turns a dataset's sessions (train and test) into events in
// event-time order. Anonymous sessions get their session id as user id.
func datasetEvents(d *dataset.Dataset, eventIDs bool) []topics.Event {
	var out []topics.Event
	for _, s := range slices.Concat(d.Train, d.Test) {
		user := s.User
		if user == "" {
			user = "session-" + s.ID
		}
		for i, e := range s.Events {
			ev := topics.Event{Kind: topics.KindClick, UserID: user, ItemID: e.Item, Time: e.Time.Truncate(time.Millisecond)}
			if eventIDs {
				ev.EventID = fmt.Sprintf("%s-%d", s.ID, i)
			}
			if e.Kind == dataset.Purchase {
				ev.Kind, ev.Quantity = topics.KindPurchase, 1
			}
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b topics.Event) int { return a.Time.Compare(b.Time) })
	return out
}

// readEventFile reads events from JSON lines; each line is a click or
// purchase in its topic's schema plus "kind".
func readEventFile(path string) ([]topics.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read-only
	var out []topics.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	now := time.Now()
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		var kindName string
		if err := json.Unmarshal(obj["kind"], &kindName); err != nil {
			return nil, fmt.Errorf(`%s:%d: "kind" must be "click" or "purchase"`, path, n)
		}
		delete(obj, "kind")
		kind := map[string]topics.Kind{"click": topics.KindClick, "purchase": topics.KindPurchase}[kindName]
		rest, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		e, err := topics.DecodeEvent(kind, rest, now, now, topics.Limits{})
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b topics.Event) int { return a.Time.Compare(b.Time) })
	return out, sc.Err()
}

// runProduceItems loads a catalogue file onto the items topic:
//
//	sessionrec produce items [flags] FILE
//
// FILE holds one item per line, {"item_id","name","category","brand",
// "price"} (only item_id required), as the items topic holds them; every
// line is validated before anything is sent. --withdraw sends tombstones.
func runProduceItems(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("produce items", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		brokers  = fs.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
		withdraw = fs.String("withdraw", "", "comma-separated item ids to withdraw (tombstones), instead of a file")
		tf       topicFlags
		sec      securityFlags
	)
	tf.register(fs)
	sec.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sessionrec produce items [flags] FILE   (or --withdraw ID,ID)")
		fs.PrintDefaults()
	}
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	security, err := sec.reach(ctx, brokerList(*brokers))
	if err != nil {
		return err
	}
	prod := topics.NewProducer(brokerList(*brokers), tf.names(), topics.WithSecurity(security))
	defer func() { err = errors.Join(err, prod.Close()) }()
	if *withdraw != "" {
		ids := brokerList(*withdraw) // the same comma-separated list parsing
		if err := prod.WithdrawItems(ctx, ids...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "withdrew %d items\n", len(ids))
		return nil
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("produce items: give one catalogue file, or --withdraw")
	}
	items, err := readItemFile(fs.Arg(0))
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(items, 1000) {
		if err := prod.SendItems(ctx, chunk...); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "sent %d items to %s\n", len(items), tf.names().WithDefaults().Items)
	return nil
}

// readItemFile reads a catalogue file: one items-topic value per line,
// validated strictly (blank lines are skipped).
func readItemFile(path string) ([]topics.Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only: nothing to lose on close
	var items []topics.Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		it, err := topics.DecodeItemValue(b, topics.Limits{})
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return items, nil
}
