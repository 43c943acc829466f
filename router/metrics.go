package router

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cubbyhq/cubby/auth"
	"github.com/cubbyhq/cubby/tenant"
)

// unmatchedRoute is the route label and log value of a request that matched
// no route (404, 405), so that a scan of random paths adds no series.
const unmatchedRoute = "unmatched"

// Login outcomes, the values of cubby_logins_total's result label.
const (
	loginOK             = "ok"
	loginBadCredentials = "bad_credentials"
	loginThrottled      = "throttled"
)

// Metrics is cubby's Prometheus registry and the collectors on it. It holds
// its own registry, never the global default one, and no label carries a
// username, a tenant id or a raw URL: routes are httprouter patterns.
//
// Build it in main before the pool, hand ObserveOpen to tenant.Config.OnOpen
// and the Metrics to router.Config; router.New adds a collector that reads
// the pool's counters and the tenant count at scrape time, so the request
// path pays nothing for them. A nil *Metrics records nothing.
type Metrics struct {
	reg      *prometheus.Registry
	open     prometheus.Histogram
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	handler  http.Handler
	// series holds each (method, route, status)'s counter and histogram
	// once a request has first needed them (seriesKey → *requestSeries), so
	// that a request neither formats its status nor takes the vectors'
	// lock: a sync.Map read takes no lock.
	series sync.Map
}

// seriesKey names one series of the request counter and histogram.
type seriesKey struct {
	method, route string
	status        int
}

// requestSeries is one series of the request counter and histogram.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics builds the registry with the Go and process collectors and
// cubby's request, login and open-latency collectors. log receives scrape
// failures (default slog.Default()).
func NewMetrics(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		open: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cubby_pool_open_seconds",
			Help: "Time to open a tenant file into the pool, migrations included.",
			// An open costs about half a millisecond; a slow disk or a
			// migration shows up in the upper buckets.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cubby_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cubby_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method, route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cubby_logins_total",
			Help: "Login attempts through the API and the HTML form, by result: ok, bad_credentials or throttled.",
		}, []string{"result"}),
	}
	for _, result := range []string{loginOK, loginBadCredentials, loginThrottled} {
		m.logins.WithLabelValues(result) // present at 0 from the start
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.open, m.requests, m.duration, m.logins,
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // counts its own scrape errors
		// /metrics may sit on the public port: a flood of scrapes gets
		// 503s instead of piling up collections.
		MaxRequestsInFlight: 4,
		CoalesceGather:      true,
	})
	return m
}

// Handler serves the registry in the Prometheus text format. A collector
// that fails (routing.db not answering) is logged and left out; the rest is
// still served.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveOpen records how long a tenant file took to open; it is meant for
// tenant.Config.OnOpen.
func (m *Metrics) ObserveOpen(d time.Duration) {
	if m == nil {
		return
	}
	m.open.Observe(d.Seconds())
}

// Register adds a collector to the registry (replication's, for one).
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// watchPool registers the collector that reads pool's counters at scrape
// time. It fails if the Metrics already watches a pool.
func (m *Metrics) watchPool(pool *tenant.Pool) error {
	return m.reg.Register(newPoolCollector(pool))
}

// observeRequest counts one answered request and its duration.
func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	s := m.seriesOf(seriesKey{methodLabel(method), route, status})
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// seriesOf returns k's series, looking the vectors up the first time only.
// Two requests that race to look one up get the same series from the
// vectors, so either may be kept.
func (m *Metrics) seriesOf(k seriesKey) *requestSeries {
	if s, ok := m.series.Load(k); ok {
		return s.(*requestSeries)
	}
	labels := []string{k.method, k.route, strconv.Itoa(k.status)}
	s := &requestSeries{count: m.requests.WithLabelValues(labels...), duration: m.duration.WithLabelValues(labels...)}
	v, _ := m.series.LoadOrStore(k, s)
	return v.(*requestSeries)
}

// observeLogin counts the outcome of a login: err is what signing in ended
// with. Requests that never reached the credentials check (unreadable
// bodies) and internal failures are not logins and are not counted here;
// the request counter has them.
func (m *Metrics) observeLogin(err error) {
	if m == nil {
		return
	}
	var throttled *auth.ThrottledError
	switch {
	case err == nil:
		m.logins.WithLabelValues(loginOK).Inc()
	case errors.Is(err, auth.ErrInvalidCredentials):
		m.logins.WithLabelValues(loginBadCredentials).Inc()
	case errors.As(err, &throttled):
		m.logins.WithLabelValues(loginThrottled).Inc()
	}
}

// methodLabel bounds the method label to the methods HTTP defines, so that
// made-up methods cannot add series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// poolCollector turns tenant.Pool.Stats and Directory.Count into const
// metrics at scrape time.
type poolCollector struct {
	pool                                 *tenant.Pool
	open, capacity, hits, misses, evicts *prometheus.Desc
	provisions, deletions, migrations    *prometheus.Desc
	tenants, checkpoints                 *prometheus.Desc
	readers, readersOpened, memoBytes    *prometheus.Desc
	keptMemos, keptHits                  *prometheus.Desc
}

func newPoolCollector(pool *tenant.Pool) *poolCollector {
	result := []string{"result"}
	return &poolCollector{
		pool:     pool,
		open:     prometheus.NewDesc("cubby_pool_open_handles", "Tenant files the pool holds open.", nil, nil),
		capacity: prometheus.NewDesc("cubby_pool_capacity", "Most tenant files the pool keeps open (--max-open).", nil, nil),
		hits:     prometheus.NewDesc("cubby_pool_hits_total", "Acquires served by a handle already open.", nil, nil),
		misses:   prometheus.NewDesc("cubby_pool_misses_total", "Acquires that had to open the tenant's file.", nil, nil),
		evicts:   prometheus.NewDesc("cubby_pool_evictions_total", "Idle handles closed to keep the pool within capacity.", nil, nil),
		provisions: prometheus.NewDesc("cubby_tenant_provisions_total",
			"Tenants provisioned, by result (ok or failed; a taken username is neither).", result, nil),
		deletions: prometheus.NewDesc("cubby_tenant_deletions_total",
			"Tenants deleted, by result (ok or failed).", result, nil),
		migrations: prometheus.NewDesc("cubby_tenant_migrations_total",
			"Tenant files brought up to the current schema when opened, by result (ok or failed).", result, nil),
		tenants: prometheus.NewDesc("cubby_tenants", "Tenants in routing.db, in any state.", nil, nil),
		checkpoints: prometheus.NewDesc("cubby_pool_idle_checkpoints_total",
			"WALs of idle handles next in line for eviction checkpointed in the background, by result (ok, or failed: some frames left for a later round).", result, nil),
		readers: prometheus.NewDesc("cubby_pool_read_connections",
			"Open handles that hold a second, read-only connection, lent because their own was busy (at most a quarter of --max-open).", nil, nil),
		readersOpened: prometheus.NewDesc("cubby_pool_read_connections_opened_total",
			"Second, read-only connections the pool has lent to busy handles.", nil, nil),
		memoBytes: prometheus.NewDesc("cubby_pool_memo_bytes",
			"What the pool keeps in memory of what was read (notes read by id), for open handles and closed ones, about, in bytes; at most 16 MiB.", nil, nil),
		keptMemos: prometheus.NewDesc("cubby_pool_kept_memos",
			"Closed handles whose memo the pool keeps while their file stays as they left it.", nil, nil),
		keptHits: prometheus.NewDesc("cubby_pool_kept_hits_total",
			"Reads of a closed tenant answered from its kept memo, without opening its file.", nil, nil),
	}
}

// Describe sends the descriptors of every metric Collect sends.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.open, c.capacity, c.hits, c.misses, c.evicts, c.provisions, c.deletions, c.migrations, c.tenants, c.checkpoints,
		c.readers, c.readersOpened, c.memoBytes, c.keptMemos, c.keptHits,
	} {
		ch <- d
	}
}

// Collect reads the pool's counters and counts the tenants.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.open, s.Open)
	gauge(c.capacity, s.Capacity)
	counter(c.hits, s.Hits)
	counter(c.misses, s.Misses)
	counter(c.evicts, s.Evictions)
	counter(c.provisions, s.Provisioned, "ok")
	counter(c.provisions, s.ProvisionFailed, "failed")
	counter(c.deletions, s.Deleted, "ok")
	counter(c.deletions, s.DeleteFailed, "failed")
	counter(c.migrations, s.Migrated, "ok")
	counter(c.migrations, s.MigrateFailed, "failed")
	counter(c.checkpoints, s.IdleCheckpoints, "ok")
	counter(c.checkpoints, s.IdleCheckpointsFailed, "failed")
	gauge(c.readers, s.Readers)
	counter(c.readersOpened, s.ReadersOpened)
	gauge(c.memoBytes, int(s.MemoBytes))
	gauge(c.keptMemos, s.KeptMemos)
	counter(c.keptHits, s.KeptHits)

	// A scrape has no context of its own; a stuck routing.db must not hold
	// it for longer than a scraper waits.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := c.pool.Routing().Count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.tenants, err)
		return
	}
	gauge(c.tenants, n)
}
