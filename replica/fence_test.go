package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/cubbyhq/cubby/replica"
	"github.com/cubbyhq/cubby/replica/replicatest"
)

// claims plays etcd for replica.Fencing: one owner per tenant, a claim's
// token larger than every earlier one, a pointer only the owner moves.
type claims struct {
	mu    sync.Mutex
	rev   int64
	owner map[string]int64 // tenant → its owner's token
	ptr   map[string]int64 // tenant → token of its current replica
}

var errLapsed = errors.New("claim lapsed")

// node is one process's view of claims.
type node struct {
	c    *claims
	mu   sync.Mutex
	held map[string][2]int64 // tenant → token, source
}

func (c *claims) node() *node { return &node{c: c, held: map[string][2]int64{}} }

// claim makes n the tenant's owner (whoever held it loses it).
func (n *node) claim(id string) int64 {
	n.c.mu.Lock()
	n.c.rev++
	tok, src := n.c.rev, n.c.ptr[id]
	n.c.owner[id] = tok
	n.c.mu.Unlock()
	n.mu.Lock()
	n.held[id] = [2]int64{tok, src}
	n.mu.Unlock()
	return tok
}

func (n *node) Token(id string) (int64, int64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.held[id]
	return h[0], h[1], ok
}

func (n *node) Current(_ context.Context, id string, token int64) (int64, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.c.owner[id] != token {
		return 0, errLapsed
	}
	prev := n.c.ptr[id]
	n.c.ptr[id] = token
	return prev, nil
}

func (c *claims) pointer(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ptr[id]
}

const fencedID = "5f0123456789abcdef0123456789abcd"

// process is one node's data directory, replicator and open tenant file.
type process struct {
	t    testing.TB
	r    *replica.Replicator
	path string
	db   *sql.DB
}

func startProcess(t testing.TB, url string, f replica.Fencing) *process {
	t.Helper()
	dir := t.TempDir()
	r, err := replica.Open(t.Context(), replica.Config{URL: url, Dir: dir, SyncInterval: time.Hour, CompactInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if f != nil {
		r.Fence(f)
	}
	return &process{t: t, r: r, path: filepath.Join(dir, fencedID+".db")}
}

// open opens the tenant file (made if missing) and attaches it.
func (p *process) open() {
	p.t.Helper()
	db, err := sql.Open("sqlite", "file:"+p.path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		p.t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	p.t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS notes (title TEXT)"); err != nil {
		p.t.Fatal(err)
	}
	p.db = db
	if err := p.r.Attach(p.t.Context(), fencedID, p.path); err != nil {
		p.t.Fatal(err)
	}
}

// closeDB closes the file's handle, if open.
func (p *process) closeDB() {
	if p.db != nil {
		p.db.Close()
		p.db = nil
	}
}

// handBack closes the file and gives the tenant up as a node does: detach
// (final sync) and wait until the hand-off is complete.
func (p *process) handBack() {
	p.t.Helper()
	p.closeDB()
	p.r.Detach(fencedID, p.path)
	if err := p.r.Handed(p.t.Context(), fencedID); err != nil {
		p.t.Fatal(err)
	}
}

// write commits a note and uploads it.
func (p *process) write(title string) {
	p.t.Helper()
	if _, err := p.db.Exec("INSERT INTO notes VALUES (?)", title); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.r.Sync(p.t.Context(), fencedID); err != nil {
		p.t.Fatalf("sync %s: %v", title, err)
	}
}

// restore brings the tenant back from the bucket into p's path.
func (p *process) restore() {
	p.t.Helper()
	if err := p.r.Restore(p.t.Context(), fencedID, p.path); err != nil {
		p.t.Fatal(err)
	}
}

// titles reads the notes of the file at path.
func titles(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT title FROM notes ORDER BY title")
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// waitPointer waits until the tenant's current replica is token's.
func waitPointer(t *testing.T, c *claims, token int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.pointer(fencedID) != token {
		if time.Now().After(deadline) {
			t.Fatalf("the pointer stays at %d, want %d", c.pointer(fencedID), token)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAStaleOwnerCannotReachTheNextOwnersReplica plays issue 16's frozen
// owner: A owns a tenant and writes; B claims it (A's lease ran out while
// A was paused), restores it and writes; then A wakes up, still attached,
// and commits and uploads as if it owned the tenant. B's writes must go
// on, and a third owner C must restore exactly what B wrote, nothing of
// what A uploaded after it lost the tenant.
func TestAStaleOwnerCannotReachTheNextOwnersReplica(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("fence")
	c := &claims{owner: map[string]int64{}, ptr: map[string]int64{}}
	na, nb, nc := c.node(), c.node(), c.node()
	a, b, cc := startProcess(t, url, na), startProcess(t, url, nb), startProcess(t, url, nc)

	ta := na.claim(fencedID)
	a.open()
	a.write("a1")
	waitPointer(t, c, ta)

	// A is paused past its lease; B claims the tenant and restores it.
	tb := nb.claim(fencedID)
	b.restore()
	b.open()
	b.write("b1")
	waitPointer(t, c, tb)

	// A wakes up: as far as it knows it still owns the tenant.
	b.write("b2")
	a.write("a2-stale")
	a.write("a3-stale")

	nc.claim(fencedID)
	cc.restore()
	if got, want := titles(t, cc.path), "a1,b1,b2"; got != want {
		t.Fatalf("the next owner restored %q, want %q (what B wrote, nothing A wrote after it lost the tenant)", got, want)
	}
	b.write("b3")
	if got := c.pointer(fencedID); got != tb {
		t.Errorf("the stale owner moved the pointer to %d (B's token is %d)", got, tb)
	}
	if st := b.r.Stats(); st.Superseded != 1 {
		t.Errorf("B deleted %d superseded replica(s), want 1 (A's)", st.Superseded)
	}
}

// TestHandedRecordsTheNewReplica: a tenant given up is not handed off
// before its claim's replica is the recorded one, and a claim that never
// replicated leaves the pointer where it was.
func TestHandedRecordsTheNewReplica(t *testing.T) {
	s3 := replicatest.New(t)
	c := &claims{owner: map[string]int64{}, ptr: map[string]int64{}}
	na, nb := c.node(), c.node()
	a, b := startProcess(t, s3.URL("hand"), na), startProcess(t, s3.URL("hand"), nb)
	ta := na.claim(fencedID)
	a.open()
	if _, err := a.db.Exec("INSERT INTO notes VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	a.r.Detach(fencedID, a.path) // the final sync is the first upload
	if err := a.r.Handed(t.Context(), fencedID); err != nil {
		t.Fatal(err)
	}
	if got := c.pointer(fencedID); got != ta {
		t.Fatalf("after the hand-off the pointer is %d, want A's token %d", got, ta)
	}
	// B claims but never attaches (say its restore failed): handing it
	// back leaves A's replica current.
	nb.claim(fencedID)
	if err := b.r.Handed(t.Context(), fencedID); err != nil {
		t.Fatal(err)
	}
	if got := c.pointer(fencedID); got != ta {
		t.Fatalf("a claim that replicated nothing moved the pointer to %d", got)
	}
	b.restore()
	if got := titles(t, b.path); got != "x" {
		t.Fatalf("restored %q, want x", got)
	}
}

// TestUnfencedReplicationKeepsItsPath: without Fencing (a single node)
// the replica is where it always was, so existing buckets need nothing.
func TestUnfencedReplicationKeepsItsPath(t *testing.T) {
	s3 := replicatest.New(t)
	a := startProcess(t, s3.URL("single"), nil)
	a.open()
	a.write("one")
	ok, err := a.r.HasReplicaAt(t.Context(), fencedID, 0)
	if err != nil || !ok {
		t.Fatalf("no replica at PREFIX/tenants/5f/<id>: %v %v", ok, err)
	}
	b := startProcess(t, s3.URL("single"), nil)
	b.restore()
	if got := titles(t, b.path); got != "one" {
		t.Fatalf("restored %q", got)
	}
}

// TestAReclaimGoesOnInItsOwnPath: a node that gives a tenant up and claims
// it again, with nobody else's replica made in between, goes on writing
// where it was (no new path: the pointer stays, nothing is superseded), and
// what it writes is what the next owner restores.
func TestAReclaimGoesOnInItsOwnPath(t *testing.T) {
	s3 := replicatest.New(t)
	c := &claims{owner: map[string]int64{}, ptr: map[string]int64{}}
	na, nb := c.node(), c.node()
	a, b := startProcess(t, s3.URL("again"), na), startProcess(t, s3.URL("again"), nb)
	first := na.claim(fencedID)
	a.open()
	a.write("one")
	waitPointer(t, c, first)
	a.r.Detach(fencedID, a.path)
	if err := a.r.Handed(t.Context(), fencedID); err != nil {
		t.Fatal(err)
	}
	superseded := a.r.Stats().Superseded
	na.claim(fencedID)
	if err := a.r.Attach(t.Context(), fencedID, a.path); err != nil {
		t.Fatal(err)
	}
	a.write("two")
	a.r.Detach(fencedID, a.path)
	if err := a.r.Handed(t.Context(), fencedID); err != nil {
		t.Fatal(err)
	}
	if got := c.pointer(fencedID); got != first {
		t.Errorf("the pointer moved to %d, want %d (the path the node went on in)", got, first)
	}
	if st := a.r.Stats(); st.Superseded != superseded {
		t.Errorf("the reclaim deleted %d replica(s), want none", st.Superseded-superseded)
	}
	nb.claim(fencedID)
	b.restore()
	if got := titles(t, b.path); got != "one,two" {
		t.Fatalf("the next owner restored %q, want one,two", got)
	}
}

// TestRestoreWithoutEtcdTakesTheNewestClaim: cubby restore --from s3://
// has no pointer to read; it takes the highest claim folder holding a
// replica, even when an older claim's folder was written to last (a
// paused owner waking up after its path was superseded).
func TestRestoreWithoutEtcdTakesTheNewestClaim(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("dr")
	c := &claims{owner: map[string]int64{}, ptr: map[string]int64{}}
	na, nb := c.node(), c.node()
	a, b := startProcess(t, url, na), startProcess(t, url, nb)
	ta := na.claim(fencedID)
	a.open()
	a.write("one")
	waitPointer(t, c, ta)
	tb := nb.claim(fencedID)
	b.restore()
	b.open()
	b.write("two")
	waitPointer(t, c, tb)
	a.write("stale") // A's old path is back, written after B's
	b.write("three")

	dr := startProcess(t, url, nil)
	if err := dr.r.RestoreTenant(t.Context(), fencedID, dr.path, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, dr.path); got != "one,three,two" {
		t.Fatalf("restore without etcd got %q, want one,three,two (the newest claim's)", got)
	}
	// A replica without claims (a single node's) restores as before.
	single := startProcess(t, s3.URL("dr-single"), nil)
	single.open()
	single.write("solo")
	other := startProcess(t, s3.URL("dr-single"), nil)
	if err := other.r.RestoreTenant(t.Context(), fencedID, other.path, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if got := titles(t, other.path); got != "solo" {
		t.Fatalf("restore of a single node's replica got %q", got)
	}
}

// TestAFencedNodesBacklogShipsWhereNobodyReads: a node closes a tenant
// while S3 is down (its last transaction stays in its local state, to ship
// later); meanwhile another node claims the tenant and writes. When S3
// answers again the first node ships its backlog, as it must for a claim
// it still holds; here it no longer holds it, and the backlog lands in its
// own old path: the next owner restores the other node's writes.
func TestAFencedNodesBacklogShipsWhereNobodyReads(t *testing.T) {
	s3 := replicatest.New(t)
	url := s3.URL("backlog")
	c := &claims{owner: map[string]int64{}, ptr: map[string]int64{}}
	na, nb, nc := c.node(), c.node(), c.node()
	a, b, cc := startProcess(t, url, na), startProcess(t, url, nb), startProcess(t, url, nc)
	ta := na.claim(fencedID)
	a.open()
	a.write("a1")
	waitPointer(t, c, ta)
	s3.Fail(true)
	if _, err := a.db.Exec("INSERT INTO notes VALUES ('a2-backlog')"); err != nil {
		t.Fatal(err)
	}
	_, _ = a.r.Sync(t.Context(), fencedID) // fails: S3 is down
	a.closeDB()
	a.r.Detach(fencedID, a.path)
	if err := a.r.Handed(t.Context(), fencedID); err == nil {
		t.Fatal("a tenant closed while S3 was down was handed off")
	}
	s3.Fail(false)

	tb := nb.claim(fencedID)
	b.restore()
	b.open()
	b.write("b1")
	waitPointer(t, c, tb)
	uploads := a.r.Stats().Uploads
	if err := a.r.Close(); err != nil { // ships the backlog
		t.Fatalf("close a: %v", err)
	}
	if a.r.Stats().Uploads == uploads {
		t.Fatal("a's backlog was not shipped: the test shows nothing")
	}
	nc.claim(fencedID)
	cc.restore()
	if got := titles(t, cc.path); got != "a1,b1" {
		t.Fatalf("the next owner restored %q, want a1,b1", got)
	}
}
