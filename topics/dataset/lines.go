package dataset

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// maxLineBytes bounds one line of a source file; the longest real line is
// well under 1 KiB.
const maxLineBytes = 1 << 20

// lineReader yields the lines of a text file with their 1-based numbers,
// without the line ending ("\n" or "\r\n"). A last line without a trailing
// newline is still returned.
type lineReader struct {
	sc *bufio.Scanner
	n  int
}

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLineBytes)
	return &lineReader{sc: sc}
}

// next returns the next line and its number, or ok == false at the end of
// the input or on a read error (see err).
func (l *lineReader) next() (line string, n int, ok bool) {
	if !l.sc.Scan() {
		return "", l.n, false
	}
	l.n++
	return strings.TrimSuffix(l.sc.Text(), "\r"), l.n, true
}

// err returns the read error that ended the input, if any.
func (l *lineReader) err() error {
	if err := l.sc.Err(); err != nil {
		return &ParseError{Line: l.n + 1, Err: fmt.Errorf("read: %w", err)}
	}
	return nil
}

// header consumes the first line and checks that it is want.
func (l *lineReader) header(want string) error {
	line, n, ok := l.next()
	if !ok {
		if err := l.err(); err != nil {
			return err
		}
		return lineErr(1, "missing header %q: empty input", want)
	}
	if line != want {
		return lineErr(n, "header: got %q, want %q", line, want)
	}
	return nil
}

// fields splits line at sep and checks the field count.
func fields(line string, n int, sep string, want int) ([]string, error) {
	f := strings.Split(line, sep)
	if len(f) != want {
		return nil, lineErr(n, "got %d %q-separated fields, want %d: %q", len(f), sep, want, line)
	}
	return f, nil
}
