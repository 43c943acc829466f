package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/litestream"
	lss3 "github.com/benbjohnson/litestream/s3"
	"github.com/superfly/ltx"
)

// maxIdleClients bounds the S3 clients kept for reuse.
const maxIdleClients = 64

// clientPool hands out S3 clients and takes them back for reuse. Each
// client has its own HTTP transport (Litestream makes it at Init and
// offers no way to share one), whose idle connection would linger for 90s
// after its tenant closed; reusing clients bounds the transports, and
// their connections, by what is open at once rather than by how many
// tenants came and went.
type clientPool struct {
	t    target
	mu   sync.Mutex
	free []*lss3.ReplicaClient
}

func newClientPool(t target) *clientPool { return &clientPool{t: t} }

// get returns an initialised client writing under key. A client is used by
// one database at a time: its Path is that database's key.
func (p *clientPool) get(ctx context.Context, key string) (*lss3.ReplicaClient, error) {
	p.mu.Lock()
	var c *lss3.ReplicaClient
	if n := len(p.free); n > 0 {
		c, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if c == nil {
		rc, err := lss3.NewReplicaClientFromURL(p.t.scheme, p.t.host, "", p.t.query, p.t.user)
		if err != nil {
			return nil, fmt.Errorf("replica URL: %w", err)
		}
		c = rc.(*lss3.ReplicaClient)
		if err := c.Init(ctx); err != nil {
			return nil, fmt.Errorf("init S3 client: %w", err)
		}
	}
	c.Path = key
	return c, nil
}

// put takes back a client nobody uses any more.
func (p *clientPool) put(c *lss3.ReplicaClient) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxIdleClients {
		p.free = append(p.free, c)
	}
}

// close drops the idle clients.
func (p *clientPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = nil
}

// counters are the replication figures /metrics shows.
type counters struct {
	requests, failures      atomic.Uint64
	bytesUp, bytesDown      atomic.Uint64
	uploads, uploadFails    atomic.Uint64
	restores, restoreFails  atomic.Uint64
	restoreNone             atomic.Uint64
	attaches, attachFails   atomic.Uint64
	detachFails, removals   atomic.Uint64
	removeFails, superseded atomic.Uint64
	leaseFails              atomic.Uint64 // writer lease refreshes and releases (writer.go)
	// down is set by a failed call and cleared by a successful one: while
	// S3 is down, detaches skip their final sync rather than hold a
	// goroutine and a client for its whole timeout.
	down atomic.Bool
	// cut is set when a single server lost its writer lease: every write
	// to the bucket fails at once, before it reaches S3 (hold.go).
	cut atomic.Bool
}

func newCounters() *counters { return &counters{} }

// count counts one call to S3 that err ended (a canceled one is ours, not
// a failure) and returns err.
func (n *counters) count(err error) error {
	n.requests.Add(1)
	if err != nil && !errors.Is(err, context.Canceled) {
		n.failures.Add(1)
	}
	return err
}

// errCut is what a write to the bucket returns while replication is cut
// off from it: this server does not hold the writer lease.
var errCut = errors.New("replica: cut off from the bucket: this server does not hold the writer lease")

// countingClient is a replica client that counts its calls, bytes and
// failures, and remembers when its last upload succeeded.
type countingClient struct {
	*lss3.ReplicaClient
	n        *counters
	lastOK   atomic.Int64 // unix nanos of the last successful upload
	failedAt atomic.Int64 // unix nanos of the first failed upload since then
	uploaded func()       // if set, called after each successful upload
}

var _ litestream.ReplicaClient = (*countingClient)(nil)

func newCountingClient(c *lss3.ReplicaClient, n *counters) *countingClient {
	cc := &countingClient{ReplicaClient: c, n: n}
	cc.lastOK.Store(time.Now().UnixNano())
	return cc
}

func (c *countingClient) done(err error) error {
	// A call S3 kept failing ends at its deadline (the client retries 5xx
	// until then); a canceled one was stopped by us.
	if c.n.count(err) != nil && !errors.Is(err, context.Canceled) {
		c.n.down.Store(true)
	} else if err == nil {
		c.n.down.Store(false)
	}
	return err
}

// LTXFiles lists a level of the replica.
func (c *countingClient) LTXFiles(ctx context.Context, level int, seek ltx.TXID, useMetadata bool) (ltx.FileIterator, error) {
	it, err := c.ReplicaClient.LTXFiles(ctx, level, seek, useMetadata)
	if err != nil {
		return nil, c.done(err)
	}
	return &countingIterator{FileIterator: it, c: c}, nil
}

// countingIterator counts a listing when it closes: S3 is asked lazily,
// so its failure shows in Err, not in LTXFiles.
type countingIterator struct {
	ltx.FileIterator
	c    *countingClient
	once sync.Once
}

func (it *countingIterator) Close() error {
	err := it.FileIterator.Close()
	it.once.Do(func() { it.c.done(errors.Join(it.FileIterator.Err(), err)) })
	return err
}

// OpenLTXFile reads one file of the replica.
func (c *countingClient) OpenLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, offset, size int64) (io.ReadCloser, error) {
	rc, err := c.ReplicaClient.OpenLTXFile(ctx, level, minTXID, maxTXID, offset, size)
	if err != nil {
		return nil, c.done(err)
	}
	c.done(nil)
	return &countingReader{ReadCloser: rc, n: &c.n.bytesDown}, nil
}

// WriteLTXFile uploads one file to the replica.
func (c *countingClient) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, r io.Reader) (*ltx.FileInfo, error) {
	if c.n.cut.Load() {
		return nil, errCut
	}
	cr := &countingReader{ReadCloser: io.NopCloser(r), n: &c.n.bytesUp}
	info, err := c.ReplicaClient.WriteLTXFile(ctx, level, minTXID, maxTXID, cr)
	c.done(err)
	if err != nil {
		c.n.uploadFails.Add(1)
		c.failedAt.CompareAndSwap(0, time.Now().UnixNano())
		return info, err
	}
	c.n.uploads.Add(1)
	c.lastOK.Store(time.Now().UnixNano())
	c.failedAt.Store(0)
	if c.uploaded != nil {
		c.uploaded()
	}
	return info, nil
}

// DeleteLTXFiles removes files from the replica.
func (c *countingClient) DeleteLTXFiles(ctx context.Context, a []*ltx.FileInfo) error {
	if c.n.cut.Load() {
		return errCut
	}
	return c.done(c.ReplicaClient.DeleteLTXFiles(ctx, a))
}

// DeleteAll removes the whole replica.
func (c *countingClient) DeleteAll(ctx context.Context) error {
	if c.n.cut.Load() {
		return errCut
	}
	return c.done(c.ReplicaClient.DeleteAll(ctx))
}

// SetLogger keeps Litestream's client logging at Warn and above.
func (c *countingClient) SetLogger(l *slog.Logger) {
	c.ReplicaClient.SetLogger(slog.New(warnOnly{l.Handler()}))
}

// countingReader adds the bytes read through it to n.
type countingReader struct {
	io.ReadCloser
	n *atomic.Uint64
}

func (r *countingReader) Read(p []byte) (int, error) {
	k, err := r.ReadCloser.Read(p)
	r.n.Add(uint64(k))
	return k, err
}

// warnOnly passes on records at Warn and above: Litestream logs every
// compaction and sync at Info, which for thousands of tenants drowns the
// server's own log.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }

func (h warnOnly) WithGroup(name string) slog.Handler { return warnOnly{h.Handler.WithGroup(name)} }
