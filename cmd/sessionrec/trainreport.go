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

// retryLine is the log line of a training that diverged and starts again.
func retryLine(r model.Retry) string {
	return fmt.Sprintf("training diverged at learning rate %v (%s); training again from the start at %v", r.LearningRate, r.Reason, r.LearningRate/2)
}

// retrySummary says that a model trained at lr only after retries: "trained
// at learning rate 0.05 after 2 retries: 0.2 diverged (REASON), 0.1
// diverged (REASON)", or "" without retries.
func retrySummary(lr float32, retries []model.Retry) string {
	if len(retries) == 0 {
		return ""
	}
	parts := make([]string, len(retries))
	for i, r := range retries {
		parts[i] = fmt.Sprintf("%v diverged (%s)", r.LearningRate, r.Reason)
	}
	return fmt.Sprintf("trained at learning rate %v after %d retries: %s", lr, len(retries), strings.Join(parts, ", "))
}
