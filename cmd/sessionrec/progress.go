package main

import (
	"fmt"
	"io"
	"os"
	"strings"
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
	b := &progressBar{w: w, lastTen: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.terminal = true
		}
	}
	return b
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

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
