package replica

// Only one single server may replicate to a prefix at a time. A server
// started on an empty data directory restores the prefix's routing.db and
// serves its users (the disaster-recovery path), so a second server
// pointed at a live one's prefix would serve the same users beside it,
// and each one's uploads would hide the other's acknowledged writes. So a
// single server holds a lease in the bucket, PREFIX/writer (beside
// PREFIX/routing and PREFIX/tenants/, never inside them), taken with S3's
// conditional writes before anything is restored or uploaded:
//
//   - missing: it is made (If-None-Match: *);
//   - this data directory's, written on this host (its writer id,
//     DATA/replica/writer-id, survives a crash): it is taken back at once
//     (If-Match its ETag);
//   - another's, written more than 2×TTL ago by S3's own clock (its
//     Last-Modified against the Date of the same answer; never our clock
//     against S3's): its holder is dead, it is taken over (If-Match);
//   - another's, fresher: it is watched for one TTL. Unchanged, its holder
//     is dead and it is taken over; rewritten, the start is refused
//     (ErrWriterLive), naming the holder.
//
// A conditional write that fails (412) lost a race to another server: the
// start is refused the same way. The holder rewrites the object every
// TTL/3, If-Match its last ETag (the body's seq makes each ETag new). When
// that fails because another server wrote it, the lease is lost: the
// Replicator is cut off at once (nothing more reaches the bucket, see
// hold.go) and WriterLost closes, so that the data directory fences its
// pool and the process exits. S3 failing a refresh is logged, counted and tried again
// at the next one: it never fails a request. But a lease not rewritten for
// 5/6 of a TTL may be another server's soon (a rival watching it takes it
// after one TTL unchanged, counted from after our last write landed): the
// Replicator is cut off until a refresh lands again (it lapsed), so that a
// server cut off from S3 by a partition, meanwhile taken over, uploads
// nothing when S3 comes back before its next refresh finds the rival.
// Close deletes the object
// after the final syncs, if it is still this server's, so that the next
// server (a replacement machine) starts at once.
//
// Cluster nodes do not take it (etcd fences them), nor does a restore
// from the bucket, which only reads.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ErrWriterLive refuses to replicate to a prefix another server
// replicates to.
var ErrWriterLive = errors.New("replica: another server replicates to this prefix")

// ErrWriterLost is why a server stopped replicating: another server took
// its prefix over.
var ErrWriterLost = errors.New("replica: another server took over the replica prefix")

// defaultWriterTTL is Config.WriterTTL's default.
const defaultWriterTTL = 30 * time.Second

// writerBody is the lease object's content, for people reading the
// bucket; Seq grows with every write, so that each one has a new ETag.
type writerBody struct {
	ID    string    `json:"id"`
	Host  string    `json:"host"`
	Dir   string    `json:"dir"` // the data directory's absolute path
	PID   int       `json:"pid"`
	Seq   int64     `json:"seq"`
	Since time.Time `json:"since"`
}

// holder is the lease object as read.
type holder struct {
	body writerBody
	etag string
	age  time.Duration // since it was written, by S3's clock; -1 when S3 did not say
}

// lease is this process's hold on PREFIX/writer.
type lease struct {
	r           *Replicator
	api         *s3.Client
	bucket, key string
	ttl         time.Duration
	// body (its Seq), etag and taken are only touched by TakeWriter, then
	// by the refresher, then by close once the refresher has ended.
	body  writerBody
	etag  string    // of our last write known to have landed
	putAt time.Time // when that write was sent
	taken bool      // false while S3 did not answer at start (pending)

	// lapse cuts replication off when no write of the lease landed for
	// lapseAfter (see above); mu guards it, wrote and lapsed.
	mu     sync.Mutex
	lapse  *time.Timer
	wrote  time.Time // when the last write known to have landed was sent
	lapsed bool

	cancel context.CancelFunc // stops the refresher
	done   chan struct{}      // closed when the refresher has ended
	lost   chan struct{}      // closed when another server took the lease
	err    error              // why lost was closed; set before
}

// TakeWriter takes the prefix's writer lease for this data directory and
// keeps it (see above) until Close; call it before anything else reaches
// the bucket. It may watch a lease held by another server for
// Config.WriterTTL before it takes it or refuses with ErrWriterLive.
//
// When S3 does not answer and the data directory already replicates to
// this URL (a restart during an outage, which serves from its own files),
// it returns nil with the lease pending: nothing reaches the bucket until
// a later try takes the lease; if another server holds it by then,
// WriterLost closes.
func (r *Replicator) TakeWriter(ctx context.Context) error {
	l, err := r.newLease(ctx)
	if err != nil {
		return fmt.Errorf("writer lease: %w", err)
	}
	err = l.take(ctx)
	switch {
	case err == nil:
		l.taken = true
		l.landed()
	case errors.Is(err, ErrWriterLive) || ctx.Err() != nil || !r.bound():
		return err
	default:
		r.cut() // until the lease is ours (keep)
		r.log.Warn("S3 does not answer: serving, but uploading nothing until this server holds the writer lease",
			"lease", l.name(), "err", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	r.mu.Lock()
	r.writer = l
	r.mu.Unlock()
	go l.keep(rctx)
	return nil
}

// WriterLost is closed when another server took this one's writer lease
// (WriterErr says so); by then nothing more reaches the bucket. Nil when
// no lease was taken.
func (r *Replicator) WriterLost() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.writer == nil {
		return nil
	}
	return r.writer.lost
}

// WriterErr is why WriterLost was closed, or nil.
func (r *Replicator) WriterErr() error {
	r.mu.Lock()
	l := r.writer
	r.mu.Unlock()
	if l == nil {
		return nil
	}
	select {
	case <-l.lost:
		return l.err
	default:
		return nil
	}
}

// newLease readies the lease: the data directory's writer id and an S3
// client with the replica URL's settings.
func (r *Replicator) newLease(ctx context.Context) (*lease, error) {
	id, err := writerID(r.cfg.Dir)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	dir, err := filepath.Abs(r.cfg.Dir)
	if err != nil {
		return nil, err
	}
	key := r.target.key("writer")
	c, err := r.clients.get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.clients.put(c)
	api, err := listerFor(ctx, c)
	if err != nil {
		return nil, err
	}
	return &lease{
		r: r, api: api, bucket: c.Bucket, key: key, ttl: r.cfg.WriterTTL,
		body: writerBody{ID: id, Host: host, Dir: dir, PID: os.Getpid(), Since: time.Now().UTC().Round(0)},
		done: make(chan struct{}), lost: make(chan struct{}),
	}, nil
}

// take takes the lease at start, or refuses with ErrWriterLive.
func (l *lease) take(ctx context.Context) error {
	h, err := l.get(ctx)
	if err != nil {
		return fmt.Errorf("read the writer lease %s: %w", l.name(), err)
	}
	if h != nil && !l.sameDir(h.body) && (h.age < 0 || h.age <= 2*l.ttl) {
		l.r.log.Warn("the replica prefix's writer lease is held by another server; watching whether it is alive",
			"lease", l.name(), "host", h.body.Host, "pid", h.body.PID, "for", l.ttl)
		select {
		case <-time.After(l.ttl):
		case <-ctx.Done():
			return ctx.Err()
		}
		again, err := l.get(ctx)
		if err != nil {
			return fmt.Errorf("read the writer lease %s: %w", l.name(), err)
		}
		if again != nil && again.etag != h.etag {
			return l.refuse(again)
		}
		h = again // unchanged: its holder is dead; or gone: it stopped
	}
	match := ""
	if h != nil {
		match = h.etag
	}
	err = l.put(ctx, match)
	if status(err) == http.StatusPreconditionFailed {
		won, _ := l.get(ctx) // to name the winner, if S3 says
		return l.refuse(won)
	}
	if err != nil {
		return fmt.Errorf("take the writer lease %s: %w", l.name(), err)
	}
	return nil
}

// refuse is ErrWriterLive, naming h's holder.
func (l *lease) refuse(h *holder) error {
	who := "a server that did not say who it is"
	if h != nil && h.body.Host != "" {
		who = fmt.Sprintf("host %s, pid %d", h.body.Host, h.body.PID)
		if !h.body.Since.IsZero() {
			who += " (since " + h.body.Since.Format(time.RFC3339) + ")"
		}
	}
	return fmt.Errorf("%w: the writer lease %s is held by %s; stop that server, or use another prefix",
		ErrWriterLive, l.name(), who)
}

// keep refreshes the lease every TTL/3 (or tries to take it, while it is
// pending) until ctx ends or the lease is lost.
func (l *lease) keep(ctx context.Context) {
	defer close(l.done)
	defer l.stopLapse()
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := l.step(ctx)
		switch {
		case errors.Is(err, ErrWriterLost):
			l.lose(err)
			return
		case err == nil:
			l.landed()
		case ctx.Err() == nil:
			l.r.stats.leaseFails.Add(1)
			l.r.log.Warn("writer lease not refreshed; trying again", "lease", l.name(), "err", err, "in", l.ttl/3)
		}
	}
}

// lapseAfter is how long the lease may go unwritten before this server
// stops uploading (see above): past two missed refreshes, short of a TTL.
func (l *lease) lapseAfter() time.Duration { return l.ttl - l.ttl/6 }

// landed records that the lease is ours as of our last write that
// landed (sent at putAt): it resumes replication if the lease had lapsed,
// and sets the lapse anew from then.
func (l *lease) landed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	sent := l.putAt
	l.wrote = sent
	if l.lapsed {
		l.lapsed = false
		l.r.uncut()
		l.r.log.Info("writer lease refreshed again: replication resumes", "lease", l.name())
	}
	d := time.Until(sent.Add(l.lapseAfter()))
	if l.lapse == nil {
		l.lapse = time.AfterFunc(d, l.expire)
	} else {
		l.lapse.Reset(d)
	}
}

// expire cuts replication off when the lease went unwritten for
// lapseAfter; a write that landed meanwhile wins.
func (l *lease) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lapsed || time.Since(l.wrote) < l.lapseAfter() {
		return
	}
	select {
	case <-l.lost:
		return // cut for good already
	case <-l.done:
		return // closed
	default:
	}
	l.lapsed = true
	l.r.cut()
	l.r.log.Warn("writer lease not refreshed for most of its TTL: uploading nothing until it is, as another server may take it over",
		"lease", l.name(), "since", l.wrote, "ttl", l.ttl)
}

// stopLapse ends the lapse timer.
func (l *lease) stopLapse() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lapse != nil {
		l.lapse.Stop()
	}
}

// step refreshes the lease, or, while it is pending, tries to take it:
// taken, replication resumes; held by another server, it is lost.
func (l *lease) step(ctx context.Context) error {
	if l.taken {
		return l.refresh(ctx)
	}
	err := l.take(ctx)
	if errors.Is(err, ErrWriterLive) {
		return fmt.Errorf("%w: %w", ErrWriterLost, err)
	}
	if err != nil {
		return err
	}
	l.taken = true
	l.r.uncut()
	l.r.log.Info("writer lease taken: replication resumes", "lease", l.name())
	// keep's landed arms the lapse.
	return nil
}

// refresh rewrites the lease if it is still ours: ErrWriterLost when
// another server wrote it, another error when S3 failed. It reads the
// lease before it writes: a store that ignores conditional writes (some
// S3-compatible ones do) lets If-Match pass whoever wrote last, and two
// servers that started together there would each keep rewriting the
// lease unaware of the other; read first, the one that finds the other's
// lease stops. On a store that honours them, If-Match still catches a
// takeover between the read and the write.
func (l *lease) refresh(ctx context.Context) error {
	h, err := l.get(ctx)
	if err != nil {
		return err
	}
	switch {
	case h == nil: // deleted by hand: made again
		return l.put(ctx, "")
	case h.body.ID == "":
		// Rewritten by hand (no server writes a lease without its id):
		// not a rival, made ours again like a deleted one.
		l.r.log.Warn("the writer lease was rewritten by hand; making it this server's again", "lease", l.name())
		return l.put(ctx, h.etag)
	case !l.thisRun(h.body):
		return l.lostTo(h)
	}
	l.etag = h.etag // ours; it differs from ours when an earlier write landed and its answer was lost
	err = l.put(ctx, l.etag)
	if status(err) != http.StatusPreconditionFailed {
		return err
	}
	switch h, err = l.get(ctx); {
	case err != nil:
		return err
	case h == nil:
		return l.put(ctx, "")
	case l.thisRun(h.body):
		l.etag = h.etag
		return nil
	}
	return l.lostTo(h)
}

// lostTo is ErrWriterLost, naming h's holder.
func (l *lease) lostTo(h *holder) error {
	return fmt.Errorf("%w: the writer lease %s is held by host %s, pid %d now; this server stops",
		ErrWriterLost, l.name(), h.body.Host, h.body.PID)
}

// lose cuts replication off from the bucket at once, then says why the
// lease is gone.
func (l *lease) lose(err error) {
	l.r.cut()
	l.r.log.Error("writer lease lost: another server replicates to this prefix now; nothing more is uploaded", "err", err)
	l.err = err
	close(l.lost)
}

// close stops the refresher, then deletes the lease if it is still ours
// (If-Match its ETag, after reading it: a store that ignores the condition
// still never deletes another server's lease unless it is taken in
// between). A failure is logged, not returned: the lease expires anyway,
// the next server waits one TTL.
func (l *lease) close(timeout time.Duration) {
	l.cancel()
	<-l.done
	select {
	case <-l.lost:
		return // never delete a lease that is not ours
	default:
	}
	if !l.taken {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.release(ctx); err != nil {
		l.r.stats.leaseFails.Add(1)
		l.r.log.Warn("writer lease not released; the next server waits for it to expire", "lease", l.name(), "err", err, "ttl", l.ttl)
	}
}

func (l *lease) release(ctx context.Context) error {
	h, err := l.get(ctx)
	if err != nil || h == nil || !l.thisRun(h.body) {
		return err
	}
	_, err = l.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &l.bucket, Key: &l.key, IfMatch: aws.String(h.etag)})
	l.r.stats.count(err)
	switch status(err) {
	case http.StatusPreconditionFailed:
		return nil // taken over just now: not ours to delete
	case http.StatusNotImplemented:
		// A store without conditional deletes: we read it as ours just now.
		_, err = l.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &l.bucket, Key: &l.key})
		l.r.stats.count(err)
	}
	return err
}

// sameDir reports whether b was written by this data directory, at this
// path on this host: a run of it that crashed (the directory's lock lets
// one process at a time use a path). A copy of the directory, elsewhere on
// this host or on another, shares the id and is treated as another server:
// taking the lease of the live original at once would stop it.
func (l *lease) sameDir(b writerBody) bool {
	return b.ID == l.body.ID && b.Host == l.body.Host && b.Dir == l.body.Dir
}

// thisRun reports whether b was written by this very process.
func (l *lease) thisRun(b writerBody) bool {
	return l.sameDir(b) && b.PID == l.body.PID && b.Since.Equal(l.body.Since)
}

// name is the lease object's address, for messages.
func (l *lease) name() string { return "s3://" + l.bucket + "/" + l.key }

// timeout bounds one request: a refresh ends before the next is due.
func (l *lease) timeout() time.Duration { return max(l.ttl/3, 5*time.Second) }

// get reads the lease object; nil when there is none.
func (l *lease) get(ctx context.Context) (*holder, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	out, err := l.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &l.bucket, Key: &l.key})
	if status(err) == http.StatusNotFound {
		l.r.stats.count(nil)
		return nil, nil
	}
	if l.r.stats.count(err) != nil {
		return nil, err
	}
	defer out.Body.Close()
	// Bounded, but well past any lease a server writes (its data
	// directory's path may be long, and JSON escapes some characters
	// six-fold): a lease cut short reads as written by hand.
	b, err := io.ReadAll(io.LimitReader(out.Body, maxLeaseBody))
	if err != nil {
		return nil, fmt.Errorf("read the writer lease: %w", err)
	}
	h := &holder{etag: aws.ToString(out.ETag), age: -1}
	_ = json.Unmarshal(b, &h.body) // unreadable: a holder that is never ours and cannot be named
	if now, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok && out.LastModified != nil {
		h.age = now.Sub(*out.LastModified)
	}
	return h, nil
}

// put writes the lease with the next seq: If-Match match, or, when match
// is empty, If-None-Match: *. It remembers the new ETag.
func (l *lease) put(ctx context.Context, match string) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout())
	defer cancel()
	l.body.Seq++
	b, err := json.Marshal(l.body)
	if err != nil {
		return err
	}
	sent := time.Now()
	in := &s3.PutObjectInput{Bucket: &l.bucket, Key: &l.key, Body: bytes.NewReader(b), ContentType: aws.String("application/json")}
	if match == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(match)
	}
	out, err := l.api.PutObject(ctx, in)
	if status(err) == http.StatusNotImplemented {
		// A store without conditional writes: written plainly, the
		// reads before each refresh (and the watch at start) find a
		// rival instead, a refresh later at most.
		l.r.stats.count(nil)
		in.IfMatch, in.IfNoneMatch = nil, nil
		in.Body = bytes.NewReader(b)
		out, err = l.api.PutObject(ctx, in)
	}
	if status(err) == http.StatusPreconditionFailed {
		l.r.stats.count(nil) // S3 answered
		return err
	}
	if l.r.stats.count(err) != nil {
		return err
	}
	l.etag, l.putAt = aws.ToString(out.ETag), sent
	return nil
}

// maxLeaseBody bounds the lease object read.
const maxLeaseBody = 64 << 10

// status is the HTTP status of a failed S3 call, or 0.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
