package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progress draws one line on stderr that says how far long work got,
// redrawn at most every tenth of a second. It draws nothing unless stderr
// is a terminal: piped or redirected, the output stays clean.
type progress struct {
	w     io.Writer
	label string
	unit  string // "B" for bytes, else a noun such as "records"
	total int64  // 0 when unknown
	now   func() time.Time
	start time.Time
	drawn time.Time // when the line was last drawn; zero before
}

// newProgress returns a progress line for label, or nil (on which every
// method does nothing) when stderr is not a terminal, or when stdout is
// one too and the work prints there: the line would be drawn over the
// output.
func (a *app) newProgress(label, unit string, total int64, printsToStdout bool) *progress {
	if !isTerminal(a.stderr) || printsToStdout && isTerminal(a.stdout) {
		return nil
	}
	return &progress{w: a.stderr, label: label, unit: unit, total: total, now: time.Now, start: time.Now()}
}

func isTerminal(w io.Writer) bool {
	if s, ok := w.(*stickyWriter); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update redraws the line with done, unless it was drawn a moment ago.
func (p *progress) update(done int64) {
	if p == nil {
		return
	}
	now := p.now()
	if now.Sub(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn = now
	line := fmt.Sprintf("%s %s", p.label, p.amount(done))
	if p.total > 0 {
		line = fmt.Sprintf("%s %3d%% %s / %s", p.label, min(100*done/p.total, 100), p.amount(done), p.amount(p.total))
	}
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		line += fmt.Sprintf(", %s/s", p.amount(int64(float64(done)/secs)))
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

// done clears the line.
func (p *progress) done() {
	if p == nil || p.drawn.IsZero() {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
}

// amount formats n in the line's unit: bytes with a binary prefix.
func (p *progress) amount(n int64) string {
	if p.unit != "B" {
		return fmt.Sprintf("%d %s", n, p.unit)
	}
	return formatBytes(n)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
