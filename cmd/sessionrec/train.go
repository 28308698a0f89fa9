package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

// train has two sources of sessions: a dataset's training split
// (--dataset) or a replay of the topics (--brokers). Each flag can also
// come from its SESSIONREC_ environment variable; the command line wins,
// so that SESSIONREC_BROKERS in the environment does not turn
// "train --dataset X" into a replay.

// trainFlags are train's flags.
type trainFlags struct {
	out, version string
	// nbSessions is how many of the most recent training sessions the
	// model keeps for its neighbourhood term.
	nbSessions int
	mf         modelFlags
	df         dataFlags
	// The replay.
	brokers     string
	tf          topicFlags
	since       time.Duration
	from, until timeFlag
	gap, grace  time.Duration
	publish     bool
	signKey     string
	keepModels  int
	sec         securityFlags
	replayOnly  []string // the flags only a replay takes
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.out, "out", "model.bin", "where to write the model artefact")
	fs.StringVar(&f.version, "version", "", "the model's version (default: its digest, m-<16 hex digits>)")
	f.df.register(fs, dataset.Diginetica)
	f.mf.register(fs)
	fs.IntVar(&f.nbSessions, "neighbour-sessions", defaultNeighbourSessions, "keep this many of the most recent training sessions in the model for the neighbourhood term of the ranking (0: none, which turns the term off)")
	before := map[string]bool{}
	fs.VisitAll(func(fl *flag.Flag) { before[fl.Name] = true })
	fs.StringVar(&f.brokers, "brokers", "", "train from the topics of these Kafka brokers (comma-separated) instead of a dataset")
	f.tf.registerReplay(fs)
	fs.DurationVar(&f.since, "since", 720*time.Hour, "with --brokers: replay the events of this long before now (0: from the start of the topics)")
	fs.Var(&f.from, "from", "with --brokers: replay the events from this `time` on (RFC 3339 or 2006-01-02), instead of --since")
	fs.Var(&f.until, "until", "with --brokers: replay the events before this `time` (default: all there are when train starts)")
	fs.DurationVar(&f.gap, "session-gap", 20*time.Minute, "with --brokers: a session ends after this long without events, as in run")
	fs.DurationVar(&f.grace, "grace", time.Minute, "with --brokers: how late an event may arrive and still be placed, as in run")
	fs.BoolVar(&f.publish, "publish", false, "with --brokers: also publish the artefact to the models topic")
	fs.StringVar(&f.signKey, "sign-key", "", "with --publish: sign the model's manifest with this Ed25519 private key `file` (PEM, from sessionrec keygen), for instances that run with --model-verify-key (empty: unsigned)")
	f.sec.register(fs)
	fs.IntVar(&f.keepModels, "keep-models", 3, "with --publish: keep this many newest models on the models topic and tombstone the older ones (0: keep all)")
	fs.VisitAll(func(fl *flag.Flag) {
		if !before[fl.Name] {
			f.replayOnly = append(f.replayOnly, fl.Name)
		}
	})
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f trainFlags
	f.register(fs)
	onCommandLine, fromEnv, err := parseFlagSources(fs, args)
	if err != nil {
		return err
	}
	replay, err := f.replayMode(onCommandLine, fromEnv)
	if err != nil {
		return err
	}
	if replay {
		return trainFromTopics(ctx, &f, onCommandLine, stdout, stderr)
	}
	return trainFromDataset(ctx, &f, stdout, stderr)
}

// replayMode decides where the sessions come from: --dataset or --data
// on the command line choose the dataset, --brokers the topics; failing
// both, SESSIONREC_BROKERS chooses the topics unless SESSIONREC_DATASET is
// set too; else the dataset (default diginetica).
func (f *trainFlags) replayMode(onCommandLine, fromEnv map[string]bool) (bool, error) {
	dataset := onCommandLine["dataset"] || onCommandLine["data"]
	var replay bool
	switch {
	case dataset && onCommandLine["brokers"]:
		return false, errors.New("train: give --dataset or --data (train on a dataset) or --brokers (train from the topics), not both")
	case dataset, onCommandLine["brokers"]:
		replay = !dataset
	case fromEnv["dataset"] && fromEnv["brokers"]:
		return false, errors.New("train: SESSIONREC_DATASET and SESSIONREC_BROKERS are both set: give --dataset or --brokers")
	default:
		replay = fromEnv["brokers"]
	}
	if !replay {
		for _, name := range f.replayOnly {
			if onCommandLine[name] {
				return false, fmt.Errorf("train: --%s is for training from the topics (--brokers), not from a dataset", name)
			}
		}
	}
	return replay, nil
}

// trainFromDataset trains on a dataset's training sessions.
func trainFromDataset(ctx context.Context, f *trainFlags, stdout, stderr io.Writer) error {
	d, tc, err := loadTraining(&f.df, &f.mf)
	if err != nil {
		return err
	}
	start := time.Now()
	m, retries, err := trainWithProgress(ctx, trainCorpus(d), tc, f.nbSessions, stderr)
	if err != nil {
		return err
	}
	if _, err := writeModel(m, f.out, f.version); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "model %s: %d of %d sessions kept, %d items, %d pairs in %s (%.0f pairs/s) -> %s\n",
		m.Info.Version, m.Info.KeptSessions, m.Info.Sessions, m.Info.TrainedItems, m.Info.Pairs,
		el.Round(time.Millisecond), float64(m.Info.Pairs)/el.Seconds(), f.out)
	printRetries(stdout, m, retries)
	return nil
}

// trainFromTopics replays the topics, trains, writes the artefact and,
// with --publish, publishes it.
func trainFromTopics(ctx context.Context, f *trainFlags, onCommandLine map[string]bool, stdout, stderr io.Writer) error {
	start := time.Now()
	brokers := brokerList(f.brokers)
	if len(brokers) == 0 {
		return errors.New("train: --brokers: no broker given")
	}
	security, err := f.sec.build()
	if err != nil {
		return err
	}
	cfg := processor.ReplayConfig{
		Brokers: brokers, Security: security, Names: f.tf.names(), Until: f.until.t, Now: start,
		Sessions:    processor.Sessionizer{Gap: f.gap, Grace: f.grace},
		CheckModels: f.publish,
	}
	if err := cfg.Names.Validate(); err != nil {
		return err
	}
	switch {
	case !f.from.t.IsZero() && onCommandLine["since"]:
		return errors.New("train: give --since or --from, not both")
	case !f.from.t.IsZero():
		cfg.From = f.from.t
	case f.since < 0:
		return fmt.Errorf("train: --since %s: want a duration >= 0", f.since)
	case f.since > 0:
		cfg.From = start.Add(-f.since)
	}
	if !cfg.Until.IsZero() && !cfg.From.IsZero() && !cfg.Until.After(cfg.From) {
		return fmt.Errorf("train: --until %s is not after the start %s", f.until.String(), cfg.From.UTC().Format(time.RFC3339))
	}
	if f.gap <= 0 || f.grace < 0 {
		return fmt.Errorf("train: --session-gap %s, --grace %s: want a gap > 0 and a grace >= 0", f.gap, f.grace)
	}
	switch {
	case f.keepModels < 0:
		return fmt.Errorf("train: --keep-models %d: want a count >= 0", f.keepModels)
	case onCommandLine["keep-models"] && !f.publish:
		return errors.New("train: --keep-models is for --publish")
	case f.signKey != "" && !f.publish:
		return errors.New("train: --sign-key is for --publish")
	}
	var signKey ed25519.PrivateKey
	if f.signKey != "" {
		var err error
		if signKey, err = readSigningKey(f.signKey); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	var prog *readProgress
	cfg.Started = func(total int64) func() {
		fmt.Fprintf(stderr, "replaying %s, %s and %s %s: %d records\n",
			cfg.Names.Clicks, cfg.Names.Purchases, cfg.Names.Items, describeSpan(cfg.From, cfg.Until), total)
		prog = startReadProgress(stderr, total)
		return prog.add
	}
	corpus, items, st, err := processor.ReplayCorpus(ctx, cfg)
	if prog != nil {
		prog.finish()
	}
	if err != nil {
		return fmt.Errorf("train: replay: %w", err)
	}
	readTime := time.Since(start)
	tc, err := f.mf.trainConfig(items)
	if err != nil {
		return err
	}
	m, retries, err := trainWithProgress(ctx, corpus, tc, f.nbSessions, stderr)
	if err != nil {
		return errNoTraining(cfg, st, tc.KeepAll, err)
	}
	artefact, err := writeModel(m, f.out, f.version)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "model %s: %d of %d sessions kept, %d items (%d in the catalogue, %d trained), %d pairs; "+
		"%d events read from %d partitions, %d applied, %d duplicates, skipped: %s; %d items records, skipped: %s; "+
		"%s (read %s, train %s) -> %s\n",
		m.Info.Version, m.Info.KeptSessions, m.Info.Sessions, m.Info.Items, st.Catalogue, m.Info.TrainedItems, m.Info.Pairs,
		st.Events, st.Partitions, st.Applied, st.Duplicates, skippedSummary(st.Skipped), st.Items, skippedSummary(st.BadItems),
		el.Round(time.Millisecond), readTime.Round(time.Millisecond), (el - readTime).Round(time.Millisecond), f.out)
	printRetries(stdout, m, retries)
	if !f.publish {
		return nil
	}
	man, err := topics.PublishModel(ctx, brokers, cfg.Names.Models, m.Info.Version, artefact, signKey, topics.WithSecurity(security))
	if err != nil {
		return fmt.Errorf("train: publish: %w", err)
	}
	signed := "unsigned"
	if man.KeyID != "" {
		signed = "signed by key " + man.KeyID
	}
	fmt.Fprintf(stdout, "published model %s to %s: %d chunks, %d bytes, sha256 %s, %s\n",
		man.Version, cfg.Names.Models, man.Chunks, man.Size, man.SHA256, signed)
	if f.keepModels == 0 {
		return nil
	}
	// The topic is compacted: the tombstones remove the older versions,
	// so that a starting instance reads a few models, not every one ever
	// published.
	withdrawn, err := topics.PruneModels(ctx, brokers, cfg.Names.Models, f.keepModels, topics.WithSecurity(security))
	if err != nil {
		return fmt.Errorf("train: withdraw older models: %w", err)
	}
	if len(withdrawn) > 0 {
		fmt.Fprintf(stdout, "withdrew %d older models from %s (--keep-models %d): %s\n",
			len(withdrawn), cfg.Names.Models, f.keepModels, strings.Join(withdrawn, ", "))
	}
	return nil
}

// defaultNeighbourSessions is how many training sessions a model keeps
// for its neighbourhood term by default (diginetica-seq's 63,680 sessions
// add 2.7 MB to its 31.4 MB artefact).
const defaultNeighbourSessions = 100_000

// trainWithProgress trains with the progress bar on w, and a line on w for
// each training that diverged and started again; it returns those retries.
// The model keeps the nbSessions most recent sessions of c (none for 0)
// for its neighbourhood term.
func trainWithProgress(ctx context.Context, c model.Corpus, tc model.TrainConfig, nbSessions int, w io.Writer) (*model.Model, []model.Retry, error) {
	bar := newProgressBar(w)
	start := time.Now()
	var retries []model.Retry
	tc.Progress = func(p model.Progress) { bar.update(p, time.Since(start)) }
	// Train calls Retried between trainings, when no worker runs: start
	// is not shared with a Progress call.
	tc.Retried = func(r model.Retry) {
		retries = append(retries, r)
		bar.restart(retryLine(r))
		start = time.Now()
	}
	m, err := model.Train(c, tc)
	bar.done()
	if err != nil {
		return nil, retries, err
	}
	if nbSessions > 0 {
		m.Sessions = model.NewSessionLog(c, nbSessions)
	}
	return m, retries, ctx.Err()
}

// printRetries adds the retries, if any, to train's report on w.
func printRetries(w io.Writer, m *model.Model, retries []model.Retry) {
	if s := retrySummary(m.Info.LearningRate, retries); s != "" {
		fmt.Fprintf(w, "model %s: %s\n", m.Info.Version, s)
	}
}

// writeModel writes m's artefact to path, as version (its digest when
// empty), and returns the bytes written. m.Info.Version is set to the
// version.
func writeModel(m *model.Model, path, version string) ([]byte, error) {
	if version == "" {
		version = m.Digest()
	}
	if strings.Contains(version, "/") {
		return nil, fmt.Errorf("train: --version %q: a version has no '/' (the models topic's chunk keys are <version>/<i>)", version)
	}
	m.Info.Version = version
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, fmt.Errorf("train: write %s: %w", path, err)
	}
	return b, nil
}

// trainCorpus turns a dataset's training sessions and catalogue into the
// trainer's corpus.
func trainCorpus(d *dataset.Dataset) model.Corpus {
	var c model.Corpus
	items := modelItems(d)
	index := map[string]int32{}
	for _, s := range d.Train {
		evs := make([]model.Event, len(s.Events))
		for i, e := range s.Events {
			x, ok := index[e.Item]
			if !ok {
				x = int32(len(c.Items))
				index[e.Item] = x
				it := items[e.Item]
				it.ID = e.Item
				c.Items = append(c.Items, it)
			}
			evs[i] = model.Event{Item: x, Purchase: e.Kind == dataset.Purchase}
			if c.From.IsZero() || e.Time.Before(c.From) {
				c.From = e.Time
			}
			if e.Time.After(c.To) {
				c.To = e.Time
			}
		}
		c.Sessions = append(c.Sessions, evs)
	}
	return c
}

// parseFlagSources parses args into fs and then gives every flag the
// command line did not set the value of its environment variable
// (SESSIONREC_ and the name in upper case, dashes as underscores), as
// parseWithEnv does; it also says which flags each set.
func parseFlagSources(fs *flag.FlagSet, args []string) (onCommandLine, fromEnv map[string]bool, err error) {
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	onCommandLine, fromEnv = map[string]bool{}, map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if onCommandLine[f.Name] || err != nil {
			return
		}
		name := "SESSIONREC_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
			fromEnv[f.Name] = true
		}
	})
	return onCommandLine, fromEnv, err
}

// timeFlag is a flag holding a time: RFC 3339, or a date (midnight UTC).
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f == nil || f.t.IsZero() {
		return ""
	}
	return f.t.UTC().Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t
			return nil
		}
	}
	return fmt.Errorf("%q is not a time: want RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02)", s)
}
