package main

import (
	"testing"
	"time"
)

// TestIdleCheckpointFlagZeroMeansNever: --idle-checkpoint 0 turns the
// pool's background checkpoints off (a negative Config value); any other
// value passes through.
func TestIdleCheckpointFlagZeroMeansNever(t *testing.T) {
	if got := idleCheckpointConfig(0); got >= 0 {
		t.Errorf("--idle-checkpoint 0 gave the pool %v; want a negative value (never)", got)
	}
	if got := idleCheckpointConfig(3 * time.Second); got != 3*time.Second {
		t.Errorf("--idle-checkpoint 3s gave the pool %v", got)
	}
}

// TestMemoFlagZeroMeansNone: --memo-mib 0 turns memos off (a negative
// Config value); any other value is MiB.
func TestMemoFlagZeroMeansNone(t *testing.T) {
	if got := memoConfig(0); got >= 0 {
		t.Errorf("--memo-mib 0 gave the pool %d; want a negative value (none)", got)
	}
	if got := memoConfig(16); got != 16<<20 {
		t.Errorf("--memo-mib 16 gave the pool %d", got)
	}
}
