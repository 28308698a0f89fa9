package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		out = fs.String("out", "model.bin", "where to write the model artefact")
		mf  modelFlags
		df  dataFlags
	)
	df.register(fs, dataset.Diginetica)
	mf.register(fs, false, 0, 0)
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, tc, err := loadTraining(&df, &mf)
	if err != nil {
		return err
	}
	corpus := trainCorpus(d)
	bar := newProgressBar(stderr)
	start := time.Now()
	tc.Progress = func(p model.Progress) { bar.update(p, time.Since(start)) }
	m, err := model.Train(corpus, tc)
	bar.done()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if _, err := m.WriteTo(f); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", *out, err), f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "model %s: %d of %d sessions kept, %d items, %d pairs in %s (%.0f pairs/s) -> %s\n",
		m.Digest(), m.Info.KeptSessions, m.Info.Sessions, m.Info.TrainedItems, m.Info.Pairs,
		el.Round(time.Millisecond), float64(m.Info.Pairs)/el.Seconds(), *out)
	return nil
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
