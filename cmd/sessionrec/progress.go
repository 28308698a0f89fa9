package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionrec/sessionrec/model"
)

// progressBar draws training progress on a terminal, redrawing one line;
// on anything else it prints a line every tenth of the way.
type progressBar struct {
	w        io.Writer
	terminal bool
	lastTen  int64
	drawn    bool
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, lastTen: -1, terminal: isTerminal(w)}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (b *progressBar) update(p model.Progress, elapsed time.Duration) {
	frac := float64(p.Done) / float64(max(1, p.Total))
	eta := time.Duration(0)
	if frac > 0 {
		eta = time.Duration(float64(elapsed) * (1 - frac) / frac)
	}
	rate := float64(p.Pairs) / max(elapsed.Seconds(), 1e-9)
	line := fmt.Sprintf("epoch %d/%d %5.1f%% %.2fM pairs/s lr %.4f eta %s",
		p.Epoch, p.Epochs, 100*frac, rate/1e6, p.LearningRate, eta.Round(time.Second))
	if b.terminal {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(b.w, "\r[%s%s] %s", strings.Repeat("=", n), strings.Repeat(" ", width-n), line)
		b.drawn = true
		return
	}
	if ten := int64(frac * 10); ten > b.lastTen {
		b.lastTen = ten
		fmt.Fprintln(b.w, line)
	}
}

// restart ends the bar's line, prints msg on a line of its own and starts
// the bar again from zero, for a training that starts again.
func (b *progressBar) restart(msg string) {
	b.done()
	fmt.Fprintln(b.w, msg)
	b.lastTen, b.drawn = -1, false
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// readProgress shows how far a replay of the topics is: records read of
// the records in its offset ranges, records/s and an ETA. On a terminal it
// redraws one line every readRedraw; on anything else it prints a line
// every tenth of the way. It draws from a goroutine of its own, which
// finish stops and waits for; add is safe for concurrent use.
type readProgress struct {
	w        io.Writer
	terminal bool
	total    int64
	start    time.Time
	n        atomic.Int64
	lastTen  int64
	stop     chan struct{}
	drawer   sync.WaitGroup
	once     sync.Once
}

// readRedraw is how often the read progress is drawn.
const readRedraw = 200 * time.Millisecond

// startReadProgress starts showing the progress of reading total records
// on w.
func startReadProgress(w io.Writer, total int64) *readProgress {
	p := &readProgress{w: w, terminal: isTerminal(w), total: total, start: time.Now(), stop: make(chan struct{})}
	p.drawer.Go(func() {
		t := time.NewTicker(readRedraw)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	})
	return p
}

// add counts one record read.
func (p *readProgress) add() { p.n.Add(1) }

func (p *readProgress) draw() {
	n, el := p.n.Load(), time.Since(p.start)
	frac := float64(n) / float64(max(p.total, 1))
	rate := float64(n) / max(el.Seconds(), 1e-9)
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(max(p.total-n, 0)) / rate * float64(time.Second)).Round(time.Second).String()
	}
	line := fmt.Sprintf("read %d of %d records (%.1f%%) %.0f records/s eta %s", n, p.total, 100*frac, rate, eta)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		return
	}
	if ten := int64(frac * 10); ten > p.lastTen && ten < 10 {
		p.lastTen = ten
		fmt.Fprintln(p.w, line)
	}
}

// finish stops the drawing and prints the total. It is idempotent.
func (p *readProgress) finish() {
	p.once.Do(func() {
		close(p.stop)
		p.drawer.Wait()
		n, el := p.n.Load(), time.Since(p.start)
		line := fmt.Sprintf("read %d records in %s (%.0f records/s)", n, el.Round(time.Millisecond), float64(n)/max(el.Seconds(), 1e-9))
		if p.terminal {
			line = "\r" + line + "\x1b[K" // over the progress line
		}
		fmt.Fprintln(p.w, line)
	})
}
