package wan

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The gateway's metrics, at GET /metrics on its port: what it sent and applied, and per
// target site the backlog, lag and out-of-sync partitions over the site's primaries
// (read from them at each scrape).
var (
	gwBatches   = prometheus.NewDesc("insight_wan_gateway_batches_sent_total", "Batches the gateway delivered to target sites.", nil, nil)
	gwKeys      = prometheus.NewDesc("insight_wan_gateway_keys_sent_total", "Keys the gateway delivered to target sites.", nil, nil)
	gwBytes     = prometheus.NewDesc("insight_wan_gateway_bytes_sent_total", "Compressed bytes the gateway delivered to target sites.", nil, nil)
	gwApplied   = prometheus.NewDesc("insight_wan_gateway_keys_applied_total", "Keys from other sites the gateway's sink applied at this site (newer or not).", nil, nil)
	gwErrors    = prometheus.NewDesc("insight_wan_gateway_errors_total", "Failed pulls, deliveries and acknowledgements (each retried).", nil, nil)
	gwBacklog   = prometheus.NewDesc("insight_wan_gateway_backlog_keys", "Keys written at this site the target has not acknowledged, over every partition.", []string{"target"}, nil)
	gwLag       = prometheus.NewDesc("insight_wan_gateway_lag_seconds", "Now less the wall time of the oldest acknowledged timestamp, while a backlog remains (0 without one).", []string{"target"}, nil)
	gwOutOfSync = prometheus.NewDesc("insight_wan_gateway_out_of_sync_partitions", "Partitions out of sync with the target (being resynchronized).", []string{"target"}, nil)
)

// Describe implements prometheus.Collector.
func (g *Gateway) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{gwBatches, gwKeys, gwBytes, gwApplied, gwErrors, gwBacklog, gwLag, gwOutOfSync} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *Gateway) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st := g.Status(ctx)
	ch <- prometheus.MustNewConstMetric(gwBatches, prometheus.CounterValue, float64(st.Batches))
	ch <- prometheus.MustNewConstMetric(gwKeys, prometheus.CounterValue, float64(st.Keys))
	ch <- prometheus.MustNewConstMetric(gwBytes, prometheus.CounterValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(gwApplied, prometheus.CounterValue, float64(st.Applied))
	ch <- prometheus.MustNewConstMetric(gwErrors, prometheus.CounterValue, float64(st.Errors))
	for _, t := range st.Targets {
		ch <- prometheus.MustNewConstMetric(gwBacklog, prometheus.GaugeValue, float64(t.Backlog), t.Site)
		ch <- prometheus.MustNewConstMetric(gwLag, prometheus.GaugeValue, t.LagSeconds, t.Site)
		ch <- prometheus.MustNewConstMetric(gwOutOfSync, prometheus.GaugeValue, float64(len(t.OutOfSyncPartitions)), t.Site)
	}
}
