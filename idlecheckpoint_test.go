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
