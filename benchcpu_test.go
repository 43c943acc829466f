package main

import (
	"runtime"
	"testing"
	"time"
)

// TestRestPerRequest: the server's CPU per request is the machine's busy
// time less the bench process's own, over the requests; unknown when the
// machine's use is, or when nothing was served.
func TestRestPerRequest(t *testing.T) {
	cores := time.Duration(runtime.NumCPU())
	u := cpuUse{self: 500 * time.Millisecond, busy: 0.75}
	elapsed := 2 * time.Second
	want := (3*elapsed*cores/4 - 500*time.Millisecond) / 1000
	if got, ok := u.restPerRequest(elapsed, 1000); !ok || got != want {
		t.Errorf("restPerRequest = %v, %v; want %v, true", got, ok, want)
	}
	if got, ok := (cpuUse{self: time.Hour, busy: 0.1}).restPerRequest(elapsed, 10); !ok || got != 0 {
		t.Errorf("bench used more than the machine: %v, %v; want 0, true", got, ok)
	}
	if _, ok := (cpuUse{busy: -1}).restPerRequest(elapsed, 10); ok {
		t.Error("machine use unknown: want not ok")
	}
	if _, ok := u.restPerRequest(elapsed, 0); ok {
		t.Error("no requests: want not ok")
	}
}
