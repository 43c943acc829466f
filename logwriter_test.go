package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
)

// logSink is a bytes.Buffer safe for one writer and a reader.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogWriterKeepsEveryLine: lines written from many goroutines all come
// out whole and in each writer's order once Close returns, and writes after
// Close go straight through.
func TestLogWriterKeepsEveryLine(t *testing.T) {
	var out logSink
	lw := newLogWriter(&out)
	const writers, lines = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(lw, "writer=%d line=%d\n", g, i)
			}
		}()
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lw, "after close\n")
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines+1 {
		t.Fatalf("%d lines, want %d", len(got), writers*lines+1)
	}
	next := make([]int, writers)
	for _, line := range got[:len(got)-1] {
		var g, i int
		if _, err := fmt.Sscanf(line, "writer=%d line=%d", &g, &i); err != nil {
			t.Fatalf("torn line %q: %v", line, err)
		}
		if i != next[g] {
			t.Fatalf("writer %d: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
	if got[len(got)-1] != "after close" {
		t.Fatalf("last line %q", got[len(got)-1])
	}
	if err := lw.Close(); err != nil { // twice is fine
		t.Fatal(err)
	}
}

// blockingWriter holds every write until release is closed.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	n       int
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	b.n += len(p)
	return len(p), nil
}

// TestLogWriterBounded: a log that cannot keep up holds writers back once
// logWriterLimit bytes wait, instead of growing without bound, and lets
// them go when it drains.
func TestLogWriterBounded(t *testing.T) {
	bw := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	lw := newLogWriter(bw)
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	lw.Write(line) //nolint:errcheck // never fails
	<-bw.entered   // the flusher is stuck in the first write
	filled := make(chan struct{})
	go func() {
		for range logWriterLimit/len(line) + 1 {
			lw.Write(line) //nolint:errcheck // never fails
		}
		close(filled)
	}()
	// The writer goroutine must block at the limit: wait until the buffer
	// is full, then check it has not finished.
	for {
		lw.mu.Lock()
		n := len(lw.buf)
		lw.mu.Unlock()
		if n >= logWriterLimit {
			break
		}
		select {
		case <-filled:
			t.Fatal("writes past the limit did not wait for the flusher")
		default:
		}
	}
	select {
	case <-filled:
		t.Fatal("writes past the limit did not wait for the flusher")
	default:
	}
	close(bw.release)
	<-filled
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if want := (logWriterLimit/len(line) + 2) * len(line); bw.n != want {
		t.Fatalf("wrote %d bytes, want %d", bw.n, want)
	}
	var _ io.Writer = lw
}
