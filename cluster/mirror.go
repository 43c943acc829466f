package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// view is an in-memory copy of the keys under one prefix, fed by a mirror.
// Its methods are called from one goroutine at a time; a view guards its
// own data against its readers.
type view interface {
	// load replaces everything with kvs, read at revision rev.
	load(kvs []*mvccpb.KeyValue, rev int64)
	// put records a created or changed key.
	put(kv *mvccpb.KeyValue)
	// del records a deleted key; kv is its tombstone (ModRevision is the
	// revision of the delete).
	del(kv *mvccpb.KeyValue)
}

// mirror keeps a view true to a key prefix: a full read, then a watch from
// the revision after it. The watch delivers every change in revision order,
// so the view is always the prefix as of some revision, at most a network
// delay behind. If the watch fails or its start revision was compacted
// away, the mirror reads the prefix afresh and watches again. Every
// progressEvery it asks the server for a progress report and reads the
// store's revision (see probe), so that a quiet prefix still proves the
// view current: heard tells a reader how recently it was known to be.
type mirror struct {
	cli    *clientv3.Client
	prefix string
	v      view
	// partial mirrors read no keys up front (load gets none): for a view
	// that caches some keys and only needs the watch to keep those true.
	partial bool
	// progressEvery is how often the server is asked to confirm the watch.
	progressEvery time.Duration

	mu    sync.Mutex
	rev   int64         // every change at or before rev is in the view
	heard time.Time     // when the watch last proved current
	moved chan struct{} // closed and replaced whenever rev or heard moves
	stop  context.CancelFunc
	done  chan struct{}
}

// startMirror reads prefix into v and keeps it true until close.
func startMirror(ctx context.Context, cli *clientv3.Client, prefix string, v view, progressEvery time.Duration, partial bool) (*mirror, error) {
	m := &mirror{cli: cli, prefix: prefix, v: v, partial: partial, progressEvery: progressEvery,
		moved: make(chan struct{}), done: make(chan struct{})}
	if err := m.reload(ctx); err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	m.stop = stop
	go m.run(wctx)
	return m, nil
}

// close stops the watch and waits for it. It is safe to call twice.
func (m *mirror) close() {
	m.stop()
	<-m.done
}

// reload reads the whole prefix into the view.
func (m *mirror) reload(ctx context.Context) error {
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if m.partial {
		opts = append(opts, clientv3.WithCountOnly())
	}
	resp, err := m.cli.Get(ctx, m.prefix, opts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", m.prefix, err)
	}
	m.v.load(resp.Kvs, resp.Header.Revision)
	m.advance(resp.Header.Revision)
	return nil
}

// run watches until ctx ends, reloading whenever the watch breaks.
func (m *mirror) run(ctx context.Context) {
	defer close(m.done)
	tick := time.NewTicker(m.progressEvery)
	defer tick.Stop()
	for ctx.Err() == nil {
		m.watch(ctx, tick.C)
		for ctx.Err() == nil {
			if m.reload(ctx) == nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}
}

// watch applies events from the current revision on, until the watch
// ends (ctx done, a compaction, a cancelled watch).
func (m *mirror) watch(ctx context.Context, progress <-chan time.Time) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	from := m.rev + 1
	m.mu.Unlock()
	wch := m.cli.Watch(wctx, m.prefix, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithProgressNotify())
	for {
		select {
		case <-ctx.Done():
			return
		case <-progress:
			m.cli.RequestProgress(wctx) //nolint:errcheck // a failed request shows as silence, which heard reports
			m.probe(wctx)
		case wr, ok := <-wch:
			if !ok || wr.Canceled || wr.CompactRevision != 0 || wr.Err() != nil {
				return
			}
			rev := wr.Header.Revision
			if !wr.IsProgressNotify() {
				rev = 0 // an event batch vouches only for its own events
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					m.v.del(ev.Kv)
				} else {
					m.v.put(ev.Kv)
				}
				rev = max(rev, ev.Kv.ModRevision)
			}
			m.advance(rev)
		}
	}
}

// probe asks etcd for its current revision; if the view already holds it,
// the view was current when the question was sent. It covers what a
// progress report cannot: etcd answers RequestProgress only once its
// revision has reached every watch's start revision, and a watch starts
// (or resumes after a reconnection) one past the last revision seen, so
// in a cluster with no writes the reports never come.
func (m *mirror) probe(ctx context.Context) {
	sent := time.Now()
	pctx, cancel := context.WithTimeout(ctx, m.progressEvery)
	defer cancel()
	// The prefix itself is never a key: a read of it is a cheap, linearizable
	// way to learn the store's revision.
	resp, err := m.cli.Get(pctx, m.prefix, clientv3.WithCountOnly())
	if err != nil {
		return // silence, which fresh reports
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if resp.Header.Revision <= m.rev && sent.After(m.heard) {
		m.heard = sent
		close(m.moved)
		m.moved = make(chan struct{})
	}
}

// advance records that the view holds every change up to rev, and that
// the watch was heard from now.
func (m *mirror) advance(rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.heard = time.Now()
	if rev > m.rev {
		m.rev = rev
		close(m.moved)
		m.moved = make(chan struct{})
	}
}

// fresh reports whether the watch proved current within d.
func (m *mirror) fresh(d time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Since(m.heard) < d
}

// revision is the revision the view is current to.
func (m *mirror) revision() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev
}

// waitFor waits until the view holds every change up to rev: after a
// write at rev, a read of this node's view then sees it.
func (m *mirror) waitFor(ctx context.Context, rev int64) error {
	for {
		m.mu.Lock()
		at, moved := m.rev, m.moved
		m.mu.Unlock()
		if at >= rev {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to reach revision %d: %w", m.prefix, rev, ctx.Err())
		case <-moved:
		}
	}
}
