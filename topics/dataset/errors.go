package dataset

import (
	"errors"
	"fmt"
)

// ErrUnknownDataset is returned by [Load] for a name not in [Names].
var ErrUnknownDataset = errors.New("dataset: unknown dataset")

// ParseError reports a malformed line in a source file.
type ParseError struct {
	// File is the path of the file, or "" when parsing a reader that is
	// not a named file. [Load] fills it in.
	File string
	// Line is the 1-based line number.
	Line int
	// Err says what is wrong with the line.
	Err error
}

// Error returns "dataset: FILE:LINE: REASON" (or "dataset: line LINE:
// REASON" without a file).
func (e *ParseError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("dataset: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("dataset: %s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the underlying reason.
func (e *ParseError) Unwrap() error { return e.Err }

func lineErr(line int, format string, args ...any) error {
	return &ParseError{Line: line, Err: fmt.Errorf(format, args...)}
}

// withFile names path in a *ParseError inside err, or wraps err with path
// when it is another error (for instance a read error).
func withFile(err error, path string) error {
	if err == nil {
		return nil
	}
	if pe, ok := errors.AsType[*ParseError](err); ok {
		pe.File = path
		return err
	}
	return fmt.Errorf("dataset: %s: %w", path, err)
}
