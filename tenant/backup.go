package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// BackupOptions tune Backup; the zero value is fine.
type BackupOptions struct {
	// SchemaVersion is the newest migration this binary knows, recorded in
	// the manifest (0 leaves it out).
	SchemaVersion int
	// Jobs is how many tenant files are copied at once (default 1).
	Jobs int
	// Progress, if not nil, is called after each tenant with how many are
	// done of how many. Calls never overlap.
	Progress func(done, total int)
	// Now is the clock for the manifest's created_at (default time.Now).
	Now func() time.Time
}

// Backup copies the data directory dataDir into outDir, mirroring its
// layout (routing.db, tenants/xx/<id>.db), and writes a manifest.json that
// lists every file with its size and sha256, last.
//
// It is safe while a server runs on dataDir: it takes no lock, changes
// nothing there (every file is opened read-only) and copies each file with
// VACUUM INTO, so each copy is a consistent snapshot of its file. routing.db
// is copied first and says which tenants the backup holds: tenants made
// later are not in it. Tenants still provisioning, and tenants deleted while
// the backup runs, are left out and their rows taken out of the copy.
//
// outDir must be missing (it is made 0700) or an empty folder, and must not
// lie inside dataDir; files are written 0600. On failure everything written
// is removed, except when only some tenants could not be copied: then the
// backup of the others is complete, the manifest lists the missing ones, and
// the error wraps ErrIncomplete and names them.
func Backup(ctx context.Context, dataDir, outDir string, opts BackupOptions) (_ Manifest, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	inside, err := sameOrInside(outDir, dataDir)
	if err != nil {
		return Manifest{}, fmt.Errorf("resolve backup folder: %w", err)
	}
	if inside {
		return Manifest{}, fmt.Errorf("backup folder %s lies inside the data folder %s", outDir, dataDir)
	}
	created, err := prepareOut(outDir)
	if err != nil {
		return Manifest{}, err
	}
	defer func() {
		if err != nil && !errors.Is(err, ErrIncomplete) {
			err = errors.Join(err, clearOut(outDir, created))
		}
	}()
	live, err := openRouting(dataDir)
	if err != nil {
		return Manifest{}, err
	}
	defer live.Close()
	b := &backupRun{dataDir: dataDir, outDir: outDir, live: live, opts: opts}
	return b.run(ctx)
}

// backupRun is one Backup in progress.
type backupRun struct {
	dataDir, outDir string
	live            *Directory // the server's routing.db, read-only
	opts            BackupOptions
}

func (b *backupRun) run(ctx context.Context) (Manifest, error) {
	m := Manifest{Format: manifestFormat, CreatedAt: b.opts.Now().UTC(), SchemaVersion: b.opts.SchemaVersion}
	routingPath := filepath.Join(b.outDir, RoutingFile)
	if err := vacuumInto(ctx, b.live.db, routingPath); err != nil {
		return m, fmt.Errorf("snapshot routing db: %w", err)
	}
	routing, err := openCopy(routingPath)
	if err != nil {
		return m, err
	}
	defer routing.Close()
	ts, err := routing.all(ctx)
	if err != nil {
		return m, fmt.Errorf("read routing copy: %w", err)
	}
	drop, err := b.copyTenants(ctx, ts, &m)
	if err != nil {
		return m, err
	}
	if err := prune(ctx, routing, drop); err != nil {
		return m, err
	}
	if err := routing.Close(); err != nil {
		return m, err
	}
	if m.Routing, err = sealFile(b.outDir, RoutingFile); err != nil {
		return m, err
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, fmt.Errorf("encode manifest: %w", err)
	}
	if err := WriteFileAtomic(b.outDir, ManifestName, append(raw, '\n')); err != nil {
		return m, err
	}
	if len(m.Missing) > 0 {
		return m, incomplete(m.Missing)
	}
	return m, nil
}

// tenantCopy is the outcome of copying one tenant.
type tenantCopy struct {
	file ManifestTenant
	gone bool // deleted while the backup ran
	err  error
}

// copyTenants copies every active or failed tenant of ts into the backup,
// recording them in m, and returns the ids whose rows must leave the
// routing copy: provisioning ones and those deleted meanwhile.
func (b *backupRun) copyTenants(ctx context.Context, ts []Tenant, m *Manifest) (drop []string, err error) {
	var todo []Tenant
	for _, t := range ts {
		if t.State == StateProvisioning {
			drop = append(drop, t.ID)
			continue
		}
		todo = append(todo, t)
	}
	results := make([]tenantCopy, len(todo))
	err = forEach(ctx, len(todo), b.opts.Jobs, b.opts.Progress, func(i int) {
		results[i] = b.copyTenant(ctx, todo[i])
	})
	if err != nil {
		return nil, err
	}
	m.Tenants = make([]ManifestTenant, 0, len(todo))
	for i, r := range results {
		switch {
		case r.gone:
			drop = append(drop, todo[i].ID)
		case r.err != nil:
			m.Missing = append(m.Missing, MissingTenant{ID: todo[i].ID, Username: todo[i].Username, Error: r.err.Error()})
		default:
			m.Tenants = append(m.Tenants, r.file)
		}
	}
	return drop, nil
}

// copyTenant snapshots one tenant. A tenant whose copy failed because it
// was deleted meanwhile is gone rather than failed.
func (b *backupRun) copyTenant(ctx context.Context, t Tenant) tenantCopy {
	f, err := b.snapshotTenant(ctx, t)
	if err == nil {
		return tenantCopy{file: f}
	}
	if validID(t.ID) {
		os.Remove(filepath.Join(b.outDir, filepath.FromSlash(tenantRel(t.ID))))
	}
	if ctx.Err() == nil {
		if _, gerr := b.live.Get(ctx, t.ID); errors.Is(gerr, ErrNotFound) {
			return tenantCopy{gone: true}
		}
	}
	return tenantCopy{err: err}
}

func (b *backupRun) snapshotTenant(ctx context.Context, t Tenant) (ManifestTenant, error) {
	if !validID(t.ID) {
		return ManifestTenant{}, fmt.Errorf("routing row has an invalid tenant id %q", t.ID)
	}
	rel := tenantRel(t.ID)
	src, err := openReadOnly(tenantFile(b.dataDir, t.ID))
	if errors.Is(err, fs.ErrNotExist) {
		return ManifestTenant{}, fmt.Errorf("file %s is missing", rel)
	}
	if err != nil {
		return ManifestTenant{}, fmt.Errorf("open %s: %w", rel, err)
	}
	defer src.Close()
	dst := filepath.Join(b.outDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return ManifestTenant{}, fmt.Errorf("make backup folder for %s: %w", rel, err)
	}
	if err := vacuumInto(ctx, src, dst); err != nil {
		return ManifestTenant{}, fmt.Errorf("copy %s: %w", rel, err)
	}
	f, err := sealFile(b.outDir, rel)
	if err != nil {
		return ManifestTenant{}, err
	}
	v, err := headerUserVersion(dst)
	if err != nil {
		return ManifestTenant{}, err
	}
	return ManifestTenant{ID: t.ID, Username: t.Username, State: t.State, SchemaVersion: v, ManifestFile: f}, nil
}

// vacuumInto writes a consistent, compact copy of db to dst, a new 0600
// file. On failure dst is removed.
func vacuumInto(ctx context.Context, db *sqlx.DB, dst string) error {
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(dst), err)
	}
	f.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return errors.Join(fmt.Errorf("vacuum into %s: %w", filepath.Base(dst), err), removeFiles(dst))
	}
	return nil
}

// openCopy opens the backup's routing.db to edit it, keeping it a single
// file (rollback journal, no WAL).
func openCopy(path string) (*Directory, error) {
	db, err := openSingleFile(path)
	if err != nil {
		return nil, fmt.Errorf("open routing copy: %w", err)
	}
	return &Directory{db: db, now: time.Now}, nil
}

// prune removes the rows of tenants the backup does not hold.
func prune(ctx context.Context, d *Directory, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := d.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("prune routing copy: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, "DELETE FROM tenants WHERE id = ?", id); err != nil {
			return fmt.Errorf("prune routing copy: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("prune routing copy: %w", err)
	}
	return nil
}

// incomplete is the error of a backup that missed some tenants.
func incomplete(missing []MissingTenant) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tenant(s) not copied:", len(missing))
	for _, t := range missing {
		fmt.Fprintf(&b, "\n  tenant %s (%s): %s", t.ID, t.Username, t.Error)
	}
	return fmt.Errorf("%w: %s", ErrIncomplete, b.String())
}

// prepareOut makes sure outDir is an empty folder, making it if missing.
func prepareOut(outDir string) (created bool, err error) {
	ents, err := os.ReadDir(outDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(outDir, 0o700); err != nil {
			return false, fmt.Errorf("make backup folder: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("read backup folder: %w", err)
	case len(ents) > 0:
		return false, fmt.Errorf("%w: backup folder %s holds %s; back up into an empty one", ErrNotEmpty, outDir, ents[0].Name())
	}
	return false, nil
}

// clearOut removes what a failed backup wrote into outDir.
func clearOut(outDir string, created bool) error {
	if created {
		return os.RemoveAll(outDir)
	}
	ents, err := os.ReadDir(outDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, os.RemoveAll(filepath.Join(outDir, e.Name())))
	}
	return errors.Join(errs...)
}

// sameOrInside reports whether path is dir or lies below it once symbolic
// links are followed as the system follows them; either may end in
// folders not made yet. Compared as written, an outDir through a link into
// the data directory was written there.
func sameOrInside(path, dir string) (bool, error) {
	ap, err := resolvePath(path)
	if err != nil {
		return false, err
	}
	ad, err := resolvePath(dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(ad, ap)
	if err != nil {
		return false, nil // on another volume
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))), nil
}

// resolvePath is the absolute path that path names, following symbolic
// links one element at a time as the system does (so "link/.." is the
// folder holding link's target), for a path whose last elements may not
// exist yet.
func resolvePath(path string) (string, error) {
	cur := string(filepath.Separator)
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		if cur, err = filepath.EvalSymlinks(wd); err != nil {
			return "", err
		}
	}
	missing := false // cur does not exist: what follows is made as written
	for _, elem := range strings.Split(path, string(filepath.Separator)) {
		switch elem {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, elem)
		if !missing {
			switch r, err := filepath.EvalSymlinks(next); {
			case err == nil:
				next = r
			case errors.Is(err, fs.ErrNotExist):
				missing = true
			default:
				return "", err
			}
		}
		cur = next
	}
	return cur, nil
}

// forEach calls fn for 0…n-1, jobs at a time, and calls progress (never two
// at once) after each. It stops handing out work once ctx is done and then
// returns ctx's error.
func forEach(ctx context.Context, n, jobs int, progress func(done, total int), fn func(i int)) error {
	work := make(chan int)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	for range min(max(jobs, 1), max(n, 1)) {
		wg.Go(func() {
			for i := range work {
				fn(i)
				mu.Lock()
				done++
				if progress != nil {
					progress(done, n)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return ctx.Err()
}
