package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/processor"
)

// skippedSummary formats skipped-record counts by reason: "malformed 2,
// late 1", or "none".
func skippedSummary(m map[string]int64) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// errNoTraining explains model.ErrNoSessions after a replay: what was
// read and why nothing was left. Other errors are returned as they are.
func errNoTraining(cfg processor.ReplayConfig, st processor.ReplayStats, keepAll bool, err error) error {
	if !errors.Is(err, model.ErrNoSessions) {
		return err
	}
	what := "a session with a purchase and 2 to max-events events"
	if keepAll {
		what = "a session of 2 to max-events events"
	}
	return fmt.Errorf("train: no training sessions in %s and %s %s: %d records read, %d events applied, %d sessions, none %s: %w",
		cfg.Names.Clicks, cfg.Names.Purchases, describeSpan(cfg.From, cfg.Until), st.Events, st.Applied, st.Sessions, what, err)
}

// describeSpan says which records a replay reads: "from T until the end".
func describeSpan(from, until time.Time) string {
	s := "from the log start"
	if !from.IsZero() {
		s = "from " + from.UTC().Format(time.RFC3339)
	}
	if until.IsZero() {
		return s + " to the end"
	}
	return s + " until " + until.UTC().Format(time.RFC3339)
}
