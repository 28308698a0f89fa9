package dataset_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

// requireParseError checks that err is a *ParseError at line, whose message
// contains want.
func requireParseError(t *testing.T, err error, line int, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a parse error at line %d containing %q", line, want)
	}
	pe, ok := errors.AsType[*dataset.ParseError](err)
	if !ok {
		t.Fatalf("got %T %v, want a *dataset.ParseError", err, err)
	}
	if pe.Line != line {
		t.Errorf("got line %d, want %d (error %v)", pe.Line, line, err)
	}
	if !strings.HasPrefix(err.Error(), "dataset: ") {
		t.Errorf("got message %q, want the prefix \"dataset: \"", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("got message %q, want it to contain %q", err, want)
	}
}
