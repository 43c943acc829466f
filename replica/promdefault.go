package replica

import "github.com/prometheus/client_golang/prometheus"

// litestreamSeries are the metric families Litestream v0.5.18 registers on
// Prometheus's default registry when it loads, each labelled with a
// database's file path (TestLitestreamSeriesStayOffTheDefaultRegistry
// fails if an upgrade adds one).
var litestreamSeries = []string{
	"litestream_checkpoint_count", "litestream_checkpoint_error_count", "litestream_checkpoint_seconds",
	"litestream_compaction_verify_error_count", "litestream_db_size", "litestream_disk_full",
	"litestream_l0_retention_files_total", "litestream_last_validation_success",
	"litestream_last_validation_success_timestamp_seconds", "litestream_replica_operation_bytes",
	"litestream_replica_operation_duration_seconds", "litestream_replica_operation_errors_total",
	"litestream_replica_operation_total", "litestream_sync_count", "litestream_sync_error_count",
	"litestream_sync_seconds", "litestream_total_wal_bytes", "litestream_txid",
	"litestream_validation_checks_total", "litestream_wal_size",
}

// unregisterLitestreamSeries takes Litestream's per-database series off
// reg (the default registry), so that nothing that serves it (a debug
// endpoint, an embedder's /metrics) shows tenant file paths; cubby's own
// figures are in Collector. A registry identifies a collector by its
// metric names, so a description-only stand-in unregisters the original.
// Calling it again does nothing.
func unregisterLitestreamSeries(reg prometheus.Registerer) {
	for _, name := range litestreamSeries {
		reg.Unregister(descOnly{prometheus.NewDesc(name, "litestream", nil, nil)})
	}
}

// descOnly is a collector that only describes one metric.
type descOnly struct{ d *prometheus.Desc }

func (c descOnly) Describe(ch chan<- *prometheus.Desc) { ch <- c.d }

func (c descOnly) Collect(chan<- prometheus.Metric) {}
