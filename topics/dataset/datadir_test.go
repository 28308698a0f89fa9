package dataset_test

import (
	"os"
	"testing"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

// dataDir returns the shared data directory: $SESSIONREC_DATA if set, else
// the shared/data folder found by walking up from the package directory.
// It fails the test when neither exists: the real-data tests must run.
func dataDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("SESSIONREC_DATA"); dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("SESSIONREC_DATA=%q is not a directory (err %v)", dir, err)
		}
		return dir
	}
	dir, err := dataset.FindDataDir(".")
	if err != nil {
		t.Fatalf("real datasets not found: %v; set SESSIONREC_DATA or put the data at ../shared/data next to the repository root", err)
	}
	return dir
}
