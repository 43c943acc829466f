package main

import (
	"io"
	"sync"
	"time"
)

// logWriterLimit is how many bytes of log lines may wait for the flusher;
// past it, writers wait for the flusher to catch up, so a log that cannot
// keep up slows the server rather than growing without bound.
const logWriterLimit = 1 << 20

// logWriterBatch is how full the buffer gets before the flusher writes it
// without waiting for the rest of logWriterWindow.
const logWriterBatch = 64 << 10

// logWriterWindow is how long the first line after a quiet spell waits for
// others to share its write. A line reaches the log at most this late.
const logWriterWindow = 20 * time.Millisecond

// logWriter batches the server's log lines into few writes, the way a
// database batches commits: Write copies the line into a buffer, and the
// flusher writes everything that arrived within logWriterWindow of the
// first line in one write(2) (sooner once logWriterBatch bytes wait). A
// busy server makes some fifty log writes a second instead of one system
// call per request under the log handler's lock and a wake-up of the
// flusher per line; an idle one makes none.
//
// What it costs: a line reaches the log up to logWriterWindow late, and
// lines accepted but not yet written are lost if the process dies abruptly
// (kill -9, a crash in C code): at most one window's worth. A Go panic that
// ends the program is printed by the runtime to stderr directly, after
// whatever was flushed. Close writes what is left.
type logWriter struct {
	w io.Writer

	mu      sync.Mutex
	drained *sync.Cond // signalled when the flusher has taken the buffer
	buf     []byte     // lines waiting, appended to under mu
	closed  bool

	wake chan struct{} // capacity 1: lines arrived in an empty buffer, or it filled
	done chan struct{} // closed when the flusher has returned
}

// newLogWriter starts a logWriter over w; Close stops it.
func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.drained = sync.NewCond(&l.mu)
	go l.flushLoop()
	return l
}

// Write queues p (one whole log line, as slog's handlers write them) and
// returns at once unless logWriterLimit bytes are already waiting. After
// Close, it writes p through. It never fails: a log that cannot be written
// has no one to tell, and the error of the underlying write is dropped as
// slog.Logger drops it.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	for len(l.buf) >= logWriterLimit && !l.closed {
		l.nudge()
		l.drained.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		return l.w.Write(p)
	}
	was := len(l.buf)
	l.buf = append(l.buf, p...)
	if was == 0 || (was < logWriterBatch && len(l.buf) >= logWriterBatch) {
		l.nudge()
	}
	l.mu.Unlock()
	return len(p), nil
}

// nudge wakes the flusher unless it is already due to run. It is called
// with mu held, so that Close cannot close wake in between.
func (l *logWriter) nudge() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// full reports whether a batch's worth of lines is waiting.
func (l *logWriter) full() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buf) >= logWriterBatch
}

// flushLoop waits for a first line, lets the window fill (or the batch),
// then writes whatever has arrived, swapping buffers so that writers never
// wait on the write itself.
func (l *logWriter) flushLoop() {
	defer close(l.done)
	var spare []byte
	window := time.NewTimer(logWriterWindow)
	window.Stop()
	for {
		_, open := <-l.wake
		if open && !l.full() {
			window.Reset(logWriterWindow)
			select {
			case <-window.C:
			case _, open = <-l.wake: // full, or closing
				window.Stop()
			}
		}
		l.mu.Lock()
		out := l.buf
		l.buf = spare[:0]
		closed := l.closed
		l.drained.Broadcast()
		l.mu.Unlock()
		if len(out) > 0 {
			l.w.Write(out) //nolint:errcheck // see Write
		}
		spare = out
		if !open || closed {
			return
		}
	}
}

// Close writes the lines still waiting and returns once they are written;
// later writes go straight to the underlying writer.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.drained.Broadcast()
	close(l.wake)
	l.mu.Unlock()
	<-l.done
	return nil
}
