// Package replica replicates a data directory to S3-compatible storage
// with Litestream (used as a library, pinned to v0.5.18): routing.db for
// the whole run, and each tenant file only while the pool holds it open,
// so that what replication costs (goroutines, descriptors, requests)
// follows --max-open and not the number of users.
//
// A [Replicator] implements tenant.Replicator: the pool attaches a tenant
// after it opened and migrated its file, detaches it after it closed its
// handle (Litestream then makes a final, bounded sync), restores a missing
// file from the bucket before it opens it, and removes the replica of a
// deleted tenant. The bucket holds one standard Litestream replica per
// database, so the stock `litestream restore` can read any of them:
//
//	PREFIX/routing                  routing.db
//	PREFIX/writer                   the writer lease: the single server replicating here (writer.go)
//	PREFIX/tenants/<2 hex>/<id>     one tenant file
//	PREFIX/tenants/<2 hex>/<id>/<token>   in a cluster: one claim's replica of it
//
// A cluster node calls Fence: each claim of a tenant then replicates under
// its fencing token, and a process that lost its claim can only write
// where nobody reads any more (see fence.go).
//
// Litestream's local state lives under DATA/replica/ (not beside the
// files, where the crash sweep would take it for an orphan). S3 being
// down never fails a request: uploads are retried by Litestream in the
// background, failures are logged and counted, and the backlog ships
// when S3 answers again.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says where to replicate a data directory.
type Config struct {
	// URL is s3://BUCKET/PREFIX?endpoint=URL&region=R&forcePathStyle=true;
	// credentials come from the standard AWS_* variables.
	URL string
	// Dir is the data directory.
	Dir string
	// Logger receives failures (default slog.Default()). Litestream's own
	// messages below Warn are dropped.
	Logger *slog.Logger
	// CompactInterval is how often open tenants' uploads are compacted
	// into level 1 (default 30s). Restores read level 1 plus what came
	// after, so this bounds how many objects a restore fetches.
	CompactInterval time.Duration
	// SyncInterval is how often Litestream looks at a database's WAL and
	// uploads its new transactions (default 1s): the replication window.
	SyncInterval time.Duration
	// DetachTimeout bounds the final sync of a tenant the pool closed, and
	// of each database at Close (default 10s).
	DetachTimeout time.Duration
	// WriterTTL is how long the writer lease (writer.go) outlives a server
	// that stopped refreshing it (default 30s): it is refreshed every third
	// of it, and a server that finds it held watches it this long.
	WriterTTL time.Duration
}

// Replicator replicates routing.db and the open tenants of one data
// directory. Build it with Open; Close detaches everything.
type Replicator struct {
	cfg     Config
	target  target
	log     *slog.Logger
	store   *litestream.Store
	clients *clientPool
	stats   *counters

	mu        sync.Mutex
	attached  map[string]*attachment // by id; routingKey for routing.db
	detaching map[string]*detachment
	behind    map[string]string // closed with a backlog: id → path (catchup.go)
	held      bool              // backlogs are not shipped (hold.go)
	fence     Fencing           // nil on a single node (fence.go)
	writer    *lease            // nil unless TakeWriter (writer.go)
	stamps    map[string]*stamp // by id, with fence: the claim each replicates under
	closed    bool
	wg        sync.WaitGroup // detaches in flight and the compactor
	stop      chan struct{}
}

// routingKey names routing.db among the attachments.
const routingKey = "routing"

// attachment is one database being replicated.
type attachment struct {
	id     string
	db     *litestream.DB
	client *countingClient
	// mu is held by compaction and by the detach, so that no compaction
	// runs on a database being closed and its client is reused only once
	// nothing uses it any more.
	mu       sync.Mutex
	detached bool
}

// Open parses cfg.URL and starts the replication machinery; it makes no
// request yet.
func Open(ctx context.Context, cfg Config) (*Replicator, error) {
	t, err := parseTarget(cfg.URL)
	if err != nil {
		return nil, err
	}
	unregisterLitestreamSeries(prometheus.DefaultRegisterer)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CompactInterval <= 0 {
		cfg.CompactInterval = 30 * time.Second
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = litestream.DefaultSyncInterval
	}
	if cfg.DetachTimeout <= 0 {
		cfg.DetachTimeout = 10 * time.Second
	}
	if cfg.WriterTTL <= 0 {
		cfg.WriterTTL = defaultWriterTTL
	}
	r := &Replicator{
		cfg: cfg, target: t, log: cfg.Logger.With("component", "replica"),
		stats:     newCounters(),
		attached:  make(map[string]*attachment),
		detaching: make(map[string]*detachment),
		behind:    make(map[string]string),
		stamps:    make(map[string]*stamp),
		stop:      make(chan struct{}),
	}
	r.clients = newClientPool(t)
	levels := litestream.CompactionLevels{{Level: 0}, {Level: 1, Interval: cfg.CompactInterval}}
	r.store = litestream.NewStore(nil, levels)
	r.store.Logger = slog.New(warnOnly{r.log.Handler()})
	// Compaction and retention run in r's own loop (see compact.go), over
	// attached databases only: the store's monitors could still be working
	// on a database after it is unregistered, and its client is reused.
	r.store.CompactionMonitorEnabled = false
	r.store.L0RetentionCheckInterval = 0
	r.store.SetShutdownSyncTimeout(cfg.DetachTimeout)
	if err := r.store.Open(ctx); err != nil {
		return nil, fmt.Errorf("open replication store: %w", err)
	}
	r.wg.Add(1)
	go r.compactLoop()
	return r, nil
}

// URL is the replica URL the Replicator was opened with, without
// credentials.
func (r *Replicator) URL() string { return redact(r.cfg.URL) }

// Close waits for the detaches in flight, then detaches what is still
// attached (routing.db included), in parallel, each final sync bounded by
// DetachTimeout (none once cut off: see hold.go); then it lets the writer
// lease go, if it took one and still holds it. It returns every failure
// joined; a second call returns nil.
func (r *Replicator) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	cut, writer := r.stats.cut.Load(), r.writer
	rest := make([]*attachment, 0, len(r.attached))
	for _, a := range r.attached {
		rest = append(rest, a)
	}
	clear(r.attached)
	r.mu.Unlock()
	close(r.stop)

	errs := make([]error, len(rest))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, a := range rest {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if cut { // nothing may ship: what the bucket lacks stays in the local state
				_ = r.detachWith(context.Background(), a, false)
				return
			}
			errs[i] = r.detachWith(context.Background(), a, true) // S3 may be back: try
		}()
	}
	wg.Wait()
	r.wg.Wait()
	// Each backlog's final sync is bounded by DetachTimeout; all of them
	// together by three times that, so that shutdown stays bounded too.
	// A backlog left behind stays in DATA/replica/ and ships at the
	// tenant's next open.
	ctx, cancel := context.WithTimeout(context.Background(), 3*r.cfg.DetachTimeout)
	defer cancel()
	errs = append(errs, r.catchUp(ctx, 16))
	sctx, scancel := context.WithTimeout(context.Background(), r.cfg.DetachTimeout)
	defer scancel()
	errs = append(errs, r.store.Close(sctx))
	if writer != nil { // last: the lease covers the final syncs
		writer.close(r.cfg.DetachTimeout)
	}
	r.clients.close()
	return errors.Join(errs...)
}

// target is a parsed replica URL.
type target struct {
	scheme, host, prefix string
	query                url.Values
	user                 *url.Userinfo
}

// parseTarget checks a replica URL; only s3:// is supported.
func parseTarget(s string) (target, error) {
	u, err := url.Parse(s)
	if err != nil {
		return target{}, fmt.Errorf("replica URL: %w", err)
	}
	if u.Scheme != "s3" {
		return target{}, fmt.Errorf("replica URL %q: only s3://BUCKET/PREFIX is supported", redact(s))
	}
	if u.Host == "" {
		return target{}, fmt.Errorf("replica URL %q names no bucket", redact(s))
	}
	return target{scheme: u.Scheme, host: u.Host, prefix: strings.Trim(u.Path, "/"), query: u.Query(), user: u.User}, nil
}

// redact drops credentials from a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}

// key is where one database's replica lives in the bucket.
func (t target) key(parts ...string) string {
	if t.prefix != "" {
		parts = append([]string{t.prefix}, parts...)
	}
	return strings.Join(parts, "/")
}

// tenantKey is a tenant's replica: PREFIX/tenants/<2 hex>/<id>.
func (t target) tenantKey(id string) string { return t.key("tenants", id[:2], id) }

// routingPath is routing.db's replica: PREFIX/routing.
func (t target) routingPath() string { return t.key("routing") }

// metaDir is where Litestream keeps a database's local state.
func metaDir(dataDir, name string) string {
	if name == routingKey {
		return filepath.Join(dataDir, "replica", "routing")
	}
	return filepath.Join(dataDir, "replica", "tenants", name[:2], name)
}

// removeMeta forgets a database's local replication state.
func removeMeta(dataDir, name string) error {
	if err := os.RemoveAll(metaDir(dataDir, name)); err != nil {
		return fmt.Errorf("remove replication state: %w", err)
	}
	return nil
}
