package dataset_test

import (
	"testing"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

// dataDir returns the shared data directory (see dataset.DataDir). It
// fails the test when there is none: the real-data tests must run.
func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := dataset.DataDir()
	if err != nil {
		t.Fatalf("real datasets not found: %v", err)
	}
	return dir
}
