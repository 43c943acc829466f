package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"
)

// ScrubFunc edits a snapshot before it is compacted, e.g. to blank secrets.
type ScrubFunc func(ctx context.Context, db *sqlx.DB) error

// Snapshot writes a consistent copy of tenant id's database to dst, which
// must not exist (VACUUM INTO, so the copy is compact and has no WAL). If
// scrub is not nil it runs on the copy, which is then vacuumed again so that
// nothing scrub removed is left in free pages. On failure dst is removed.
func (p *Pool) Snapshot(ctx context.Context, id, dst string, scrub ScrubFunc) (err error) {
	if err := p.copyInto(ctx, id, dst); err != nil {
		return err
	}
	if err := scrubCopy(ctx, dst, scrub); err != nil {
		return errors.Join(classify(err), removeFiles(dst))
	}
	return nil
}

// copyInto copies tenant id into dst as backup does, on a read-only
// connection of its own: the pool's handles refuse ATTACH, which VACUUM
// INTO uses. Holding the tenant keeps a Delete from removing the file
// meanwhile.
func (p *Pool) copyInto(ctx context.Context, id, dst string) error {
	_, release, err := p.Acquire(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	src, err := openReadOnly(p.tenantPath(id))
	if err != nil {
		return fmt.Errorf("open tenant for snapshot: %w", MarkBusy(err))
	}
	defer src.Close()
	if err := vacuumInto(ctx, src, dst); err != nil {
		return classify(err)
	}
	return nil
}

// scrubCopy drops replication's tables from a snapshot, runs scrub (if not
// nil) on it, and vacuums it so nothing removed is left in free pages.
func scrubCopy(ctx context.Context, path string, scrub ScrubFunc) error {
	db, err := openSingleFile(path)
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer db.Close()
	dropped, err := dropReplicationTables(ctx, db)
	if err != nil {
		return err
	}
	if scrub == nil && !dropped {
		return db.Close()
	}
	if scrub != nil {
		if err := scrub(ctx, db); err != nil {
			return fmt.Errorf("scrub snapshot: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("compact snapshot: %w", err)
	}
	return db.Close()
}

// Export returns a scrubbed snapshot of tenant id as an open file,
// positioned at its start. The file is already unlinked from tmp/, so
// nothing is left on disk once the caller closes it, whatever happens.
func (p *Pool) Export(ctx context.Context, id string, scrub ScrubFunc) (*os.File, error) {
	path := filepath.Join(p.dir, "tmp", "export-"+newID()+".db")
	if err := p.Snapshot(ctx, id, path, scrub); err != nil {
		err = MarkBusy(err)
		var pe *fs.PathError
		if errors.As(err, &pe) && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrFull) && !errors.Is(err, ErrUnavailable) {
			// tmp/ cannot take the copy (read-only, not a folder): the
			// storage's fault, not a bug.
			return nil, fmt.Errorf("%w: export: %w", ErrUnavailable, err)
		}
		return nil, err
	}
	f, err := os.Open(path)
	if rerr := removeFiles(path); rerr != nil && err == nil {
		f.Close()
		return nil, fmt.Errorf("unlink export: %w", rerr)
	}
	if err != nil {
		return nil, fmt.Errorf("open export: %w", MarkBusy(err))
	}
	return f, nil
}

// dropReplicationTables drops the tables Litestream keeps in a replicated
// file (_litestream_seq, _litestream_lock): they are not the user's data.
// It reports whether there were any.
func dropReplicationTables(ctx context.Context, db *sqlx.DB) (bool, error) {
	var n int
	if err := db.GetContext(ctx, &n,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('_litestream_seq', '_litestream_lock')`); err != nil {
		return false, fmt.Errorf("list replication tables: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS _litestream_seq`); err != nil {
		return false, fmt.Errorf("drop replication tables from snapshot: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS _litestream_lock`); err != nil {
		return false, fmt.Errorf("drop replication tables from snapshot: %w", err)
	}
	return true, nil
}
