package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/term"
)

// progress shows how far a long command (migrate, backup, restore, check)
// has got. On a terminal it redraws one bar in place; otherwise (a log, a
// pipe, a test) it writes a plain line each tenth of the way and at least
// every few seconds, so logs stay short and still show a slow run moving.
// Its Update fits the progress callbacks of package tenant, whose calls
// never overlap.
type progress struct {
	w     io.Writer
	label string
	tty   bool
	now   func() time.Time
	last  time.Time // when a line or bar was last written
	tenth int       // the tenth of the way last reported (plain lines)
	drawn bool      // a bar is on screen and its line not yet ended
}

const (
	barWidth     = 30
	redrawEvery  = 100 * time.Millisecond // on a terminal
	plainLineMax = 5 * time.Second        // longest silence in plain mode
)

// newProgress reports to w (stderr), drawing a bar when w is a terminal.
func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, tty: isTerminal(w), now: time.Now, last: time.Now()}
}

// isTerminal reports whether w is a file open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Update records that done of total steps are finished.
func (p *progress) Update(done, total int) {
	if total <= 0 {
		return
	}
	now := p.now()
	finished := done >= total
	if p.tty {
		if !finished && now.Sub(p.last) < redrawEvery {
			return
		}
		p.last, p.drawn = now, true
		filled := done * barWidth / total
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %3d%%", p.label,
			strings.Repeat("=", filled), strings.Repeat(" ", barWidth-filled), done, total, done*100/total)
		return
	}
	tenth := done * 10 / total
	if !finished && tenth == p.tenth && now.Sub(p.last) < plainLineMax {
		return
	}
	p.last, p.tenth = now, tenth
	fmt.Fprintf(p.w, "%s: %d/%d (%d%%)\n", p.label, done, total, done*100/total)
}

// Finish ends the bar's line, so that what follows starts on a line of its
// own. Call it once the work is over, whether or not it succeeded.
func (p *progress) Finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
