package tenant

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// CheckOptions tune Check; the zero value runs a full check.
type CheckOptions struct {
	// Quick runs PRAGMA quick_check, which skips matching indexes against
	// their tables, instead of the slower integrity_check.
	Quick bool
	// SchemaVersion is the newest migration this binary knows; files with a
	// newer one are reported. 0 skips that test.
	SchemaVersion int
	// Jobs is how many tenant files are checked at once (default 1).
	Jobs int
	// Progress, if not nil, is called after each tenant file with how many
	// are done of how many. Calls never overlap.
	Progress func(done, total int)
	// Now is the clock (default time.Now); it tells a signup in progress
	// from a provisioning row a crash left behind.
	Now func() time.Time
}

// provisioningGrace is how long a signup may take before Check calls its
// provisioning row a crash's leftover.
const provisioningGrace = time.Minute

// ProblemKind says what is wrong.
type ProblemKind string

// The problems Check finds.
const (
	// ProblemRouting: routing.db fails its integrity check or holds a bad row.
	ProblemRouting ProblemKind = "routing"
	// ProblemCorrupt: a tenant file fails its integrity check or is no database.
	ProblemCorrupt ProblemKind = "corrupt"
	// ProblemMissing: an active or failed tenant has no file.
	ProblemMissing ProblemKind = "missing"
	// ProblemTooNew: a tenant file was written by a newer binary.
	ProblemTooNew ProblemKind = "too-new"
	// ProblemFailed: a tenant's last migration failed.
	ProblemFailed ProblemKind = "failed"
	// ProblemProvisioning: a crash left a tenant half-made.
	ProblemProvisioning ProblemKind = "provisioning"
	// ProblemOrphan: a tenant file has no routing row.
	ProblemOrphan ProblemKind = "orphan"
	// ProblemStray: a file under tenants/ that is no tenant's, or misplaced.
	ProblemStray ProblemKind = "stray"
)

var problemOrder = []ProblemKind{ProblemRouting, ProblemCorrupt, ProblemMissing, ProblemTooNew,
	ProblemFailed, ProblemProvisioning, ProblemOrphan, ProblemStray}

// Problem is one thing Check found wrong.
type Problem struct {
	Kind     ProblemKind `json:"kind"`
	TenantID string      `json:"tenant_id,omitempty"`
	Username string      `json:"username,omitempty"`
	Path     string      `json:"path,omitempty"` // relative to the data directory
	Detail   string      `json:"detail"`
}

// String is the problem on one line, naming the tenant id and username.
func (p Problem) String() string {
	switch {
	case p.TenantID == "":
		return fmt.Sprintf("%s: %s: %s", p.Kind, p.Path, p.Detail)
	case p.Username == "":
		return fmt.Sprintf("%s: tenant %s (no routing row): %s", p.Kind, p.TenantID, p.Detail)
	}
	return fmt.Sprintf("%s: tenant %s (%s): %s", p.Kind, p.TenantID, p.Username, p.Detail)
}

// CheckReport is what Check found.
type CheckReport struct {
	// Tenants counts the routing rows read; Files the tenant files checked.
	Tenants int `json:"tenants"`
	Files   int `json:"files"`
	// Problems are what is wrong, grouped by kind.
	Problems []Problem `json:"problems"`
	// Notes are worth a look but not wrong (a signup in progress, files
	// kept in orphans/).
	Notes []string `json:"notes"`
}

// OK reports whether Check found nothing wrong.
func (r CheckReport) OK() bool { return len(r.Problems) == 0 }

// WriteTo writes the report for a person: one line per problem, then the
// notes, then a summary line.
func (r CheckReport) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	verdict := "ok"
	if !r.OK() {
		verdict = fmt.Sprintf("%d problem(s)", len(r.Problems))
	}
	fmt.Fprintf(&b, "checked routing.db, %d tenant(s), %d file(s): %s\n", r.Tenants, r.Files, verdict)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Check looks over the data directory dataDir: the integrity of routing.db
// and of every tenant file, rows without files, files without rows (and
// files under tenants/ that are no tenant's), tenants that failed their last
// migration or that a crash left provisioning, and files newer than this
// binary's schema.
//
// It is read-only and runs beside a live server: it takes no lock, uses no
// Pool, and opens every file with mode=ro. What a server does meanwhile
// (signups, deletions) is looked at twice, so it is not reported as a
// problem. The error is only for failures to run the check at all (no
// routing.db, a tenants table that cannot be read); the report then holds
// what was found until then.
func Check(ctx context.Context, dataDir string, opts CheckOptions) (CheckReport, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d, err := openRouting(dataDir)
	if err != nil {
		return CheckReport{}, err
	}
	defer d.Close()
	c := &checker{dir: dataDir, opts: opts, d: d}
	if detail := integrity(ctx, d.db, opts.Quick); detail != "" {
		c.add(Problem{Kind: ProblemRouting, Path: RoutingFile, Detail: detail})
	}
	ts, err := d.all(ctx)
	if err != nil {
		return c.done(), fmt.Errorf("read routing db: %w", err)
	}
	c.report.Tenants = len(ts)
	files, err := listTenantFiles(filepath.Join(dataDir, "tenants"))
	if err != nil {
		return c.done(), err
	}
	todo := c.compare(ctx, ts, files)
	err = forEach(ctx, len(todo), opts.Jobs, opts.Progress, func(i int) { c.checkFile(ctx, todo[i]) })
	if err != nil {
		return c.done(), err
	}
	if err := c.noteOrphansFolder(); err != nil {
		return c.done(), err
	}
	return c.done(), nil
}

// checker is one Check in progress.
type checker struct {
	dir  string
	opts CheckOptions
	d    *Directory // routing.db, read-only

	mu     sync.Mutex
	report CheckReport
}

func (c *checker) add(p Problem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.Problems = append(c.report.Problems, p)
}

func (c *checker) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.Notes = append(c.report.Notes, fmt.Sprintf(format, args...))
}

// done returns the report with its problems in a stable order.
func (c *checker) done() CheckReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	slices.SortStableFunc(c.report.Problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(slices.Index(problemOrder, a.Kind), slices.Index(problemOrder, b.Kind)),
			cmp.Compare(a.Username, b.Username),
			cmp.Compare(a.TenantID, b.TenantID),
			cmp.Compare(a.Path, b.Path))
	})
	return c.report
}

// compare matches the routing rows against the files under tenants/ and
// returns the tenants whose files are to be opened and checked.
func (c *checker) compare(ctx context.Context, ts []Tenant, files map[string][]string) []Tenant {
	var todo []Tenant
	for _, t := range ts {
		paths := files[t.ID]
		delete(files, t.ID)
		if !validID(t.ID) {
			c.add(Problem{Kind: ProblemRouting, TenantID: t.ID, Username: t.Username, Path: RoutingFile,
				Detail: "row has an invalid tenant id"})
			continue
		}
		c.misplaced(t, paths)
		if t.State == StateFailed {
			c.add(Problem{Kind: ProblemFailed, TenantID: t.ID, Username: t.Username,
				Detail: fmt.Sprintf("last migration failed (retried at its next open): %s", oneLine(t.Error))})
		}
		switch {
		case t.State == StateProvisioning:
			c.provisioning(t)
		case !slices.Contains(paths, tenantFile(c.dir, t.ID)):
			c.missing(ctx, t)
		default:
			todo = append(todo, t)
		}
	}
	c.unrouted(ctx, files)
	return todo
}

// misplaced reports files named for tenant t that are not where its files
// belong.
func (c *checker) misplaced(t Tenant, paths []string) {
	base := tenantFile(c.dir, t.ID)
	for _, p := range paths {
		if !slices.ContainsFunc(fileSuffixes, func(s string) bool { return p == base+s }) {
			c.add(Problem{Kind: ProblemStray, TenantID: t.ID, Username: t.Username, Path: c.rel(p),
				Detail: fmt.Sprintf("%s is misplaced; the tenant's file is %s", c.rel(p), tenantRel(t.ID))})
		}
	}
}

func (c *checker) provisioning(t Tenant) {
	if c.opts.Now().Sub(t.CreatedAt) < provisioningGrace {
		c.note("tenant %s (%s) is being signed up", t.ID, t.Username)
		return
	}
	c.add(Problem{Kind: ProblemProvisioning, TenantID: t.ID, Username: t.Username,
		Detail: fmt.Sprintf("half-made since %s, left by a crash; serve removes it at start",
			t.CreatedAt.UTC().Format(time.RFC3339))})
}

// missing reports t's file as missing unless t was deleted meanwhile.
func (c *checker) missing(ctx context.Context, t Tenant) {
	if _, err := c.d.Get(ctx, t.ID); errors.Is(err, ErrNotFound) {
		return
	}
	if _, err := os.Stat(tenantFile(c.dir, t.ID)); err == nil {
		return // made meanwhile: not missing
	}
	c.add(Problem{Kind: ProblemMissing, TenantID: t.ID, Username: t.Username, Path: tenantRel(t.ID),
		Detail: fmt.Sprintf("file %s is missing; the tenant is served as unavailable", tenantRel(t.ID))})
}

// unrouted reports the files no routing row claims: stray names, and
// tenant files whose row does not exist (unless it was made meanwhile).
func (c *checker) unrouted(ctx context.Context, files map[string][]string) {
	for id, paths := range files {
		slices.Sort(paths)
		if id == "" {
			for _, p := range paths {
				c.add(Problem{Kind: ProblemStray, Path: c.rel(p), Detail: "not a tenant file"})
			}
			continue
		}
		if _, err := c.d.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			continue
		}
		if _, err := os.Stat(paths[0]); err != nil {
			continue // deleted meanwhile
		}
		detail := fmt.Sprintf("%s has no routing row", c.rel(paths[0]))
		if len(paths) > 1 {
			detail = fmt.Sprintf("%s and %d file(s) beside it have no routing row", c.rel(paths[0]), len(paths)-1)
		}
		if filepath.Dir(filepath.Dir(paths[0])) == filepath.Join(c.dir, "tenants") {
			detail += "; serve moves such files to orphans/ at start"
		}
		c.add(Problem{Kind: ProblemOrphan, TenantID: id, Path: c.rel(paths[0]), Detail: detail})
	}
}

// checkFile opens tenant t's file read-only and checks its integrity and
// schema version.
func (c *checker) checkFile(ctx context.Context, t Tenant) {
	db, err := openReadOnly(tenantFile(c.dir, t.ID))
	if errors.Is(err, fs.ErrNotExist) {
		c.missing(ctx, t)
		return
	}
	p := Problem{Kind: ProblemCorrupt, TenantID: t.ID, Username: t.Username, Path: tenantRel(t.ID)}
	if err != nil {
		p.Detail = fmt.Sprintf("open %s: %v", p.Path, err)
		c.add(p)
		return
	}
	defer db.Close()
	c.mu.Lock()
	c.report.Files++
	c.mu.Unlock()
	detail := integrity(ctx, db, c.opts.Quick)
	if ctx.Err() != nil {
		return
	}
	if detail != "" {
		if _, err := c.d.Get(ctx, t.ID); errors.Is(err, ErrNotFound) {
			return // deleted meanwhile
		}
		p.Detail = fmt.Sprintf("%s: %s", p.Path, detail)
		c.add(p)
		return
	}
	if v, err := userVersion(ctx, db); err == nil && c.opts.SchemaVersion > 0 && v > c.opts.SchemaVersion {
		p.Kind = ProblemTooNew
		p.Detail = fmt.Sprintf("file is at schema version %d but this binary knows only %d; upgrade cubby",
			v, c.opts.SchemaVersion)
		c.add(p)
	}
}

// integrity runs integrity_check (or quick_check) on db and returns "" when
// the file is sound, else what is wrong with it.
func integrity(ctx context.Context, db *sqlx.DB, quick bool) string {
	q := "PRAGMA integrity_check(10)"
	if quick {
		q = "PRAGMA quick_check(10)"
	}
	var msgs []string
	if err := db.SelectContext(ctx, &msgs, q); err != nil {
		return oneLine(err.Error())
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return ""
	}
	if len(msgs) == 0 {
		return "integrity check returned nothing"
	}
	return oneLine(strings.Join(msgs, "; "))
}

// noteOrphansFolder notes files that Recover moved to orphans/ earlier.
func (c *checker) noteOrphansFolder() error {
	n := 0
	err := filepath.WalkDir(filepath.Join(c.dir, "orphans"), func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("read orphans folder: %w", err)
	}
	if n > 0 {
		c.note("%d file(s) in orphans/ are kept for a person to look at", n)
	}
	return nil
}

// rel is path relative to the data directory, slash-separated.
func (c *checker) rel(path string) string {
	if r, err := filepath.Rel(c.dir, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
