package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ForwardedByHeader names the node that forwarded a request. A node never
// forwards a request that carries it: ownership that moved while the
// request was on its way is answered with a 503 rather than a loop.
const ForwardedByHeader = "X-Cubby-Forwarded-By"

// NotServingHeader marks a 503 a node answers, before doing anything, to a
// request for a tenant it does not serve: it is fenced (it lost its lease),
// or the request was forwarded to it and the tenant has moved on. A
// Forwarder that gets such an answer asks etcd who owns the tenant now and
// forwards the request once more to that node (ForwarderConfig.Owner); the
// header never reaches the client.
const NotServingHeader = "X-Cubby-Not-Serving"

// ForwarderConfig tunes a Forwarder. A zero field takes the default named
// beside it.
type ForwarderConfig struct {
	// NodeID is this node's id, sent in ForwardedByHeader.
	NodeID string
	// Timeout bounds how long the owner may take to start its answer
	// (connecting, sending the request, waiting for the headers), and then
	// how long its answer's body may go without a byte coming through; 30 s.
	// A body that keeps coming is passed on however long it takes (a large
	// export): a client too slow to read it is for the writer's deadline to
	// cut off, as it would be on the owner (the router's grows with the
	// answer's Content-Length).
	Timeout time.Duration
	// DialTimeout bounds connecting to the owner; 2 s.
	DialTimeout time.Duration
	// RetryAfter is what a 503 tells the client to wait; 2 s.
	RetryAfter time.Duration
	// OnError answers a request that could not be forwarded. The default
	// answers 503 with cubby's JSON error body (code tenant_unavailable);
	// the router would pass its own, which answers pages with HTML.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// Logger receives forwarding failures; slog.Default().
	Logger *slog.Logger
	// Hop, if set, signs the client address (WithClient) on every request
	// forwarded, so that the owner can believe it (see Hop). Without it the
	// owner sees only this node as the client.
	Hop *Hop
	// Owner, if set, reads who owns a tenant from etcd itself, not from a
	// cache that a watch feeds ([Node.OwnerNow]); false if nobody does. A
	// request whose owner answered NotServingHeader is forwarded once more
	// to the node Owner names, if that is neither this node nor the one
	// that refused it: the cache that chose the first node lagged behind a
	// claim. Without Owner, or for a body that cannot be sent again
	// (Request.GetBody unset), the refusal is answered with OnError.
	Owner func(ctx context.Context, tenant string) (NodeInfo, bool, error)
}

// Forwarder passes a request for a tenant another node owns to that node
// (a reverse proxy) and gives the client the owner's answer.
//
// The outbound request keeps the client's Host (the owner's cross-origin
// check compares Origin with it; see wireHost for a Host it cannot keep),
// appends the peer's address to X-Forwarded-For after whatever the
// request carried (the owner reads the chain from the right, trusting the
// other nodes as proxies) and sets X-Forwarded-Host and X-Forwarded-Proto
// for this hop.
type Forwarder struct {
	cfg       ForwarderConfig
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

// attemptKey is the context key of a forwarding attempt.
type attemptKey struct{}

// attempt is one sending of a request by Forward.
type attempt struct {
	target *url.URL
	// retry is whether a refusal (NotServingHeader) may be retried; the
	// error handler sets refused instead of answering one that may.
	retry   bool
	refused error
	// stall is the exchange's watchdog (see Forward).
	stall *time.Timer
}

// errNotServing is a refusal marked NotServingHeader.
var errNotServing = errors.New("the node answered that it does not serve this tenant now")

// errStalled is why a forwarded exchange is cancelled: nothing came from
// the owner for the timeout.
var errStalled = errors.New("nothing came from the owner for the timeout")

// NewForwarder returns a Forwarder; Close releases its idle connections.
func NewForwarder(cfg ForwarderConfig) *Forwarder {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.OnError == nil {
		cfg.OnError = unavailable(cfg.RetryAfter)
	}
	f := &Forwarder{cfg: cfg, transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
	}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:        f.rewrite,
		Transport:      f.transport,
		ModifyResponse: f.answered,
		ErrorHandler:   f.proxyFailed,
		// An answer cut off after it started (its body stalled, or the
		// client went away) has no one left to answer: it is logged.
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return f
}

// Close drops the idle connections to other nodes. Safe to call twice.
func (f *Forwarder) Close() error {
	f.transport.CloseIdleConnections()
	return nil
}

// Forwarded reports whether r came from another node.
func Forwarded(r *http.Request) bool { return r.Header.Get(ForwardedByHeader) != "" }

// Forward answers r, a request for tenant, with the answer of the node to,
// or with OnError if it cannot be reached, is this node, or r was
// forwarded already. If to answers that it does not serve the tenant
// (NotServingHeader), or no connection to it can be made, the owner is
// read from etcd (ForwarderConfig.Owner) and r sent once more, to that
// owner.
//
// One watchdog bounds the exchange: it cancels it unless the answer starts
// within the timeout, and then unless each part of its body comes within
// the timeout of the one before (see answered).
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, tenant string, to NodeInfo) {
	if Forwarded(r) {
		if f.fromNode(r) {
			w.Header().Set(NotServingHeader, "1") // the sender may know better
		}
		f.failed(w, r, fmt.Errorf("forward to %s: the request was forwarded here by %s already", to.ID, r.Header.Get(ForwardedByHeader)))
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stall := time.AfterFunc(f.cfg.Timeout, func() { cancel(errStalled) })
	defer stall.Stop()
	a := &attempt{stall: stall, retry: f.cfg.Owner != nil && tenant != "" && (r.Body == nil || r.Body == http.NoBody || r.GetBody != nil)}
	if !f.send(w, r.WithContext(context.WithValue(ctx, attemptKey{}, a)), to) || a.refused == nil {
		return
	}
	refusedBy := to.ID
	octx, ocancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	to, ok, err := f.cfg.Owner(octx, tenant)
	ocancel()
	switch {
	case err != nil:
		err = fmt.Errorf("%s refused tenant %s (%w) and its owner could not be read: %w", refusedBy, tenant, a.refused, err)
	case !ok || to.ID == refusedBy || to.ID == f.cfg.NodeID:
		err = fmt.Errorf("%s refused tenant %s: %w (owner now: %q)", refusedBy, tenant, a.refused, to.ID)
	}
	if err != nil {
		f.failed(w, r, err)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := r.GetBody()
		if err != nil {
			f.failed(w, r, fmt.Errorf("forward to %s again: %w", to.ID, err))
			return
		}
		r.Body = body
	}
	a = &attempt{stall: stall} // the last try: a second refusal is answered
	f.send(w, r.WithContext(context.WithValue(ctx, attemptKey{}, a)), to)
}

// send forwards r (whose context holds its attempt) to node to, and says
// whether it was sent (false: answered with OnError at once).
func (f *Forwarder) send(w http.ResponseWriter, r *http.Request, to NodeInfo) bool {
	if to.ID == f.cfg.NodeID {
		f.failed(w, r, fmt.Errorf("forward to %s: that is this node", to.ID))
		return false
	}
	target, err := parseAdvertise(to.Advertise)
	if err != nil {
		f.failed(w, r, fmt.Errorf("forward to %s: %w", to.ID, err))
		return false
	}
	u, _ := url.Parse(target) // parseAdvertise returns a valid URL
	r.Context().Value(attemptKey{}).(*attempt).target = u
	f.proxy.ServeHTTP(w, r)
	return true
}

func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	target := pr.In.Context().Value(attemptKey{}).(*attempt).target
	pr.SetURL(target)
	pr.Out.Host = wireHost(pr.In.Host, target)
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	pr.Out.Header.Set(ForwardedByHeader, f.cfg.NodeID)
	// Whatever hop headers the client sent are never passed on.
	pr.Out.Header.Del(ClientHeader)
	pr.Out.Header.Del(HopHeader)
	if f.cfg.Hop != nil {
		f.cfg.Hop.sign(pr.Out, clientOf(pr.In))
	}
}

// wireHost is the Host a request forwarded to target carries: the
// client's, unless net/http's client would send it otherwise, when it is
// the owner's own. The client may have sent none (HTTP/1.0 allows that;
// the client then sends target's), or one it changes on the wire (an
// IPv6 zone dropped, a non-ASCII name turned into punycode, one that is
// no valid header value blanked; an absolute request target can carry
// such a host past the server's check of the Host header). The hop signs
// the Host, so it has to be exactly what is sent: else the owner finds
// the signature wrong and counts the client's failed logins against the
// forwarding node's address, a fresh throttle budget for every node.
// The owner's cross-origin check loses nothing by it: browsers send a
// plain Host, and this node checked the request against the client's.
func wireHost(host string, target *url.URL) string {
	if plainHost(host) {
		return host
	}
	h := target.Host
	if i := strings.LastIndexByte(h, ']'); strings.HasPrefix(h, "[") && i > 0 {
		if j := strings.IndexByte(h[:i], '%'); j > 0 {
			h = h[:j] + h[i:] // the zone, which net/http drops
		}
	}
	return h
}

// plainHost is whether net/http's client sends host as it is: not empty,
// ASCII, every byte one that a Host header may hold, and no '%' (neither
// an IPv6 zone nor an escape).
func plainHost(host string) bool {
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:[]!$&'()*+,;=", c) >= 0) {
			return false
		}
	}
	return true
}

// fromNode is whether r, which carries ForwardedByHeader, came from a node
// of the cluster: its hop is signed with the cluster's key. Only a node
// is told what is meant for nodes (NotServingHeader). Without a Hop,
// whoever sends the header is taken at its word.
//
// A request that merely claims to be forwarded is still not forwarded:
// the claim costs only its sender its answer, while forwarding a request
// whose hop fails (clocks further apart than MaxSkew) could loop.
func (f *Forwarder) fromNode(r *http.Request) bool {
	if f.cfg.Hop == nil {
		return true
	}
	_, ok := f.cfg.Hop.Client(r)
	return ok
}

// answered is the proxy's ModifyResponse. The owner's answer has started:
// the watchdog now waits for its body to make progress (see progress).
// An answer marked NotServingHeader is turned into errNotServing.
func (f *Forwarder) answered(resp *http.Response) error {
	if a, _ := resp.Request.Context().Value(attemptKey{}).(*attempt); a != nil && a.stall != nil &&
		resp.StatusCode != http.StatusSwitchingProtocols { // an upgrade's body must stay a connection
		a.stall.Reset(f.cfg.Timeout)
		resp.Body = &progress{ReadCloser: resp.Body, stall: a.stall, timeout: f.cfg.Timeout}
	}
	return notServing(resp)
}

// progress is a forwarded answer's body that re-arms the exchange's
// watchdog whenever some of it comes through.
type progress struct {
	io.ReadCloser
	stall   *time.Timer
	timeout time.Duration
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	if n > 0 {
		p.stall.Reset(p.timeout)
	}
	return n, err
}

// notServing turns an owner's answer marked NotServingHeader into
// errNotServing, for proxyFailed; the mark is never passed on.
func notServing(resp *http.Response) error {
	if resp.Header.Get(NotServingHeader) == "" {
		return nil
	}
	resp.Header.Del(NotServingHeader)
	if resp.StatusCode != http.StatusServiceUnavailable {
		return nil
	}
	return errNotServing
}

// proxyFailed is the proxy's ErrorHandler: a refusal that may be retried
// is left for Forward (nothing is written), anything else answered.
func (f *Forwarder) proxyFailed(w http.ResponseWriter, r *http.Request, err error) {
	if a, _ := r.Context().Value(attemptKey{}).(*attempt); a != nil && a.retry && (errors.Is(err, errNotServing) || notDialed(err)) {
		a.refused = err
		return
	}
	f.failed(w, r, err)
}

// notDialed is whether err means no connection to the node was made (it
// is down, or gone from its address): nothing was sent, so the request
// may go to whoever etcd says owns the tenant now (the cache that chose
// the node may not have seen a claim that followed its lease's end).
func notDialed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// failed logs a request that could not be forwarded and answers it.
func (f *Forwarder) failed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(context.Cause(r.Context()), errStalled) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %v: %w", f.cfg.Timeout, err)
	}
	f.cfg.Logger.WarnContext(r.Context(), "forward failed", "method", r.Method, "path", r.URL.Path, "err", err)
	f.cfg.OnError(w, r, err)
}

// unavailable answers 503 tenant_unavailable in cubby's JSON error shape.
func unavailable(retryAfter time.Duration) func(http.ResponseWriter, *http.Request, error) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code = "tenant_unavailable"
	body.Error.Message = "the server that holds your data cannot be reached right now; try again in a moment"
	b, _ := json.Marshal(body) // a fixed struct of strings: cannot fail
	secs := strconv.Itoa(int(math.Ceil(retryAfter.Seconds())))
	return func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", secs)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(append(b, '\n')) //nolint:errcheck // the client went away
	}
}
