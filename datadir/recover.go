package datadir

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cubbyhq/cubby/tenant"
)

// recoverPool cleans up after a crash and logs what it found.
func recoverPool(ctx context.Context, pool *tenant.Pool, log *slog.Logger) (tenant.RecoverReport, error) {
	r, err := pool.Recover(ctx)
	if err != nil {
		return r, fmt.Errorf("recover: %w", err)
	}
	log.Info("recovered data directory", "half_made_removed", len(r.Removed),
		"orphans_moved", len(r.Orphaned), "tmp_swept", r.TmpRemoved)
	for _, id := range r.Removed {
		log.Warn("removed a tenant left half-made by a crash", "tenant", id)
	}
	for _, f := range r.Orphaned {
		log.Warn("moved a tenant file without a routing row to orphans/", "file", f)
	}
	return r, nil
}
