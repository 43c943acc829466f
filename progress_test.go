package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestProgressWritesAPlainLineEachTenthOffATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "migrate")
	if p.tty {
		t.Fatal("a buffer taken for a terminal")
	}
	clock := &fakeClock{t: time.Unix(0, 0)}
	p.now, p.last = clock.now, clock.t
	for i := 1; i <= 100; i++ {
		p.Update(i, 100)
	}
	p.Finish()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 10 || lines[0] != "migrate: 10/100 (10%)" || lines[9] != "migrate: 100/100 (100%)" {
		t.Fatalf("lines:\n%s", buf.String())
	}

	// A slow run still shows it is moving every few seconds.
	buf.Reset()
	p = &progress{w: &buf, label: "check", now: clock.now, last: clock.t}
	p.Update(1, 1000)
	clock.t = clock.t.Add(plainLineMax)
	p.Update(2, 1000)
	p.Update(3, 1000)
	if buf.String() != "check: 2/1000 (0%)\n" {
		t.Fatalf("slow run: %q", buf.String())
	}
}

func TestProgressRedrawsOneBarOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	clock := &fakeClock{t: time.Unix(0, 0)}
	p := &progress{w: &buf, label: "backup", tty: true, now: clock.now, last: clock.t}
	clock.t = clock.t.Add(redrawEvery)
	p.Update(1, 4)
	p.Update(2, 4) // too soon to redraw
	p.Update(4, 4) // the end is always drawn
	p.Finish()
	p.Finish()
	want := "\rbackup [=======                       ] 1/4  25%" +
		"\rbackup [==============================] 4/4 100%\n"
	if buf.String() != want {
		t.Fatalf("got  %q\nwant %q", buf.String(), want)
	}
}
