package replica

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrPrefixInUse refuses to replicate a routing.db to a prefix that holds
// the replica of another one: ours would become its latest state.
var ErrPrefixInUse = errors.New("replica: the prefix holds another data directory's replica")

// PrepareRouting readies routing.db at path before it is opened: a missing
// one is restored from the bucket when the bucket has it; an existing one
// is refused if it was never replicated to this URL while the prefix
// already holds a replica (it would overwrite another data directory's
// latest state). tmpDir holds the restore in flight.
func (r *Replicator) PrepareRouting(ctx context.Context, path, tmpDir string) error {
	_, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("routing.db: %w", err)
	}
	if exists && r.bound() {
		return nil
	}
	has, err := r.hasReplica(ctx, r.target.routingPath())
	if err != nil {
		return fmt.Errorf("check the replica at %s: %w", redact(r.cfg.URL), err)
	}
	switch {
	case exists && has:
		return fmt.Errorf("%w: %s already holds a replica of a routing.db, and %s was never replicated there; "+
			"replicating it would make it the latest state. Use another prefix, or move this data directory away "+
			"and start serve on an empty one to restore from the replica", ErrPrefixInUse, redact(r.cfg.URL), path)
	case !exists && has:
		if err := removeMeta(r.cfg.Dir, routingKey); err != nil {
			return err
		}
		if err := os.MkdirAll(tmpDir, 0o700); err != nil {
			return fmt.Errorf("make tmp folder: %w", err)
		}
		if err := r.restoreInto(ctx, r.target.routingPath(), tmpDir, path); err != nil {
			return fmt.Errorf("restore routing.db from %s: %w", redact(r.cfg.URL), err)
		}
		r.log.Info("restored routing.db from the replica", "url", redact(r.cfg.URL))
	}
	return nil
}

// StartRouting starts replicating routing.db at path (open by now) for the
// whole run, and records that this data directory replicates to this URL.
func (r *Replicator) StartRouting(ctx context.Context, path string) error {
	if err := r.attachRouting(ctx, path); err != nil {
		return err
	}
	return r.Bind()
}

// StopRouting stops replicating routing.db, with a final sync; call it
// after routing.db's handle closed.
func (r *Replicator) StopRouting() error { return r.detachRouting() }

// Bind records that the data directory replicates to this URL, so that a
// later serve knows its routing.db belongs in the prefix.
func (r *Replicator) Bind() error {
	p := bindFile(r.cfg.Dir)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("make replica folder: %w", err)
	}
	if err := os.WriteFile(p, []byte(r.bindValue()+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the replica URL: %w", err)
	}
	return nil
}

// bound reports whether the data directory replicates to this URL already.
func (r *Replicator) bound() bool {
	b, err := os.ReadFile(bindFile(r.cfg.Dir))
	return err == nil && strings.TrimSpace(string(b)) == r.bindValue()
}

// bindValue is what names the replica: bucket and prefix, not the
// endpoint, which may change (a new MinIO host) for the same data.
func (r *Replicator) bindValue() string { return r.target.host + "/" + r.target.prefix }

// bindFile holds the bucket and prefix the data directory replicates to.
func bindFile(dataDir string) string { return filepath.Join(dataDir, "replica", "bound-to") }
