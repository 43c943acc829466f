package replica

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns the replication figures for a Prometheus registry. No
// label names a tenant or a path (Litestream's own per-database series,
// which do, are taken off the default registry: see promdefault.go).
func (r *Replicator) Collector() prometheus.Collector { return &collector{r: r} }

type collector struct{ r *Replicator }

var (
	descAttached = prometheus.NewDesc("cubby_replication_attached",
		"Databases being replicated now: the open tenants plus routing.db.", nil, nil)
	descBehind = prometheus.NewDesc("cubby_replication_behind",
		"Replicated databases with transactions not yet uploaded.", nil, nil)
	descLag = prometheus.NewDesc("cubby_replication_lag_seconds",
		"Longest time a replicated database with transactions not yet uploaded has gone without a successful upload.", nil, nil)
	descRequests = prometheus.NewDesc("cubby_replication_requests_total",
		"Calls to S3 made by replication (a listing may page), by outcome.", []string{"outcome"}, nil)
	descBytes = prometheus.NewDesc("cubby_replication_bytes_total",
		"Bytes uploaded to and downloaded from S3 by replication.", []string{"direction"}, nil)
	descUploads = prometheus.NewDesc("cubby_replication_uploads_total",
		"Transaction files uploaded, by outcome.", []string{"outcome"}, nil)
	descRestores = prometheus.NewDesc("cubby_replication_restores_total",
		"Tenant files restored from S3 on open, by outcome (none: the tenant had no replica).", []string{"outcome"}, nil)
	descFailures = prometheus.NewDesc("cubby_replication_failures_total",
		"Replication steps that failed, by step.", []string{"step"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAttached, descBehind, descLag, descRequests, descBytes, descUploads, descRestores, descFailures} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.stats
	attached, behind, lag := c.r.lag()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	count := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(descAttached, float64(attached))
	gauge(descBehind, float64(behind))
	gauge(descLag, lag.Seconds())
	req, fail := s.requests.Load(), s.failures.Load()
	count(descRequests, req-fail, "ok")
	count(descRequests, fail, "failed")
	count(descBytes, s.bytesUp.Load(), "up")
	count(descBytes, s.bytesDown.Load(), "down")
	ups, upFails := s.uploads.Load(), s.uploadFails.Load()
	count(descUploads, ups, "ok")
	count(descUploads, upFails, "failed")
	count(descRestores, s.restores.Load(), "ok")
	count(descRestores, s.restoreFails.Load(), "failed")
	count(descRestores, s.restoreNone.Load(), "none")
	count(descFailures, s.attachFails.Load(), "attach")
	count(descFailures, s.detachFails.Load(), "final_sync")
	count(descFailures, s.removeFails.Load(), "remove")
	count(descFailures, s.leaseFails.Load(), "writer_lease")
}

// lag counts the attached databases, those with transactions not yet
// uploaded, and the longest any of those has gone without an upload.
func (r *Replicator) lag() (attached, behind int, lag time.Duration) {
	now := time.Now()
	for _, a := range r.snapshot() {
		attached++
		pos, err := a.db.Pos()
		if err != nil || a.db.Replica.Pos().TXID >= pos.TXID {
			continue
		}
		behind++
		if d := now.Sub(time.Unix(0, a.client.lastOK.Load())); d > lag {
			lag = d
		}
	}
	return attached, behind, lag
}
