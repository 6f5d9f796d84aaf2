package server

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	clients prometheus.Gauge
}

// newMetrics registers the server's metrics and resolves each command's counters and
// histogram once, so the hot path only increments.
func newMetrics(s *Server, reg prometheus.Registerer) (*metrics, error) {
	commands := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "insight_grid_commands_total",
		Help: "Commands processed, by command and result (ok or error).",
	}, []string{"command", "result"})
	latency := &latencyCollector{s: s, desc: prometheus.NewDesc("insight_grid_command_duration_seconds",
		"Time to execute a command, excluding network and queueing.", []string{"command"}, nil)}
	m := &metrics{clients: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "insight_grid_connected_clients",
		Help: "Client connections open now.",
	})}
	collectors := []prometheus.Collector{
		commands, latency, m.clients,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "insight_grid_keys", Help: "Keys stored, expired ones not yet collected included."},
			func() float64 { return float64(s.store.Keys()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "insight_grid_used_memory_bytes", Help: "Estimated bytes held by keys and values."},
			func() float64 { return float64(s.store.UsedMemory()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "insight_grid_maxmemory_bytes", Help: "Used memory past which writes are refused (0: no limit)."},
			func() float64 { return float64(s.store.MaxMemory()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_expired_keys_total", Help: "Keys removed by expiry."},
			func() float64 { return float64(s.store.ExpiredKeys()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_evicted_keys_total", Help: "Keys removed by the maxmemory-policy to make room for writes."},
			func() float64 { return float64(s.store.EvictedKeys()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_oom_rejected_commands_total", Help: "Writes refused because used memory was over maxmemory."},
			func() float64 { return float64(s.oomRejected.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "insight_grid_tiered_keys", Help: "Keys whose value tiered storage keeps on disk."},
			func() float64 { return float64(s.store.Tiering().Keys) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "insight_grid_tiered_disk_bytes", Help: "Bytes of the keys and values tiered storage keeps on disk (counted against --tiering-max-disk)."},
			func() float64 { return float64(s.store.Tiering().DiskBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_tiered_cold_reads_total", Help: "Values read back from tiered storage's disk."},
			func() float64 { return float64(s.store.Tiering().ColdReads) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_tiered_cold_read_seconds_total", Help: "Time spent reading values back from tiered storage's disk."},
			func() float64 { return float64(s.store.Tiering().ColdReadNs) / 1e9 }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_tiered_spills_total", Help: "Values moved from RAM to tiered storage's disk."},
			func() float64 { return float64(s.store.Tiering().Spills) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_connections_total", Help: "Client connections accepted."},
			func() float64 { return float64(s.connsTotal.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_pubsub_forward_dropped_total", Help: "PUBLISH messages not forwarded to another instance: its queue was full, or its connection was lost."},
			func() float64 { return float64(s.pubsub.forwards.dropped.Load()) }),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering server metrics: %w", err)
		}
	}
	resolve := func(cmd *command) {
		name := cmd.fullName()
		cmd.latency.name = name
		cmd.ok = commands.WithLabelValues(name, "ok")
		cmd.failed = commands.WithLabelValues(name, "error")
	}
	for _, cmd := range s.cmds {
		resolve(cmd)
		for _, sub := range cmd.subs {
			resolve(sub)
		}
	}
	return m, nil
}

func (m *metrics) count(cmd *command, ok bool) {
	if ok {
		cmd.ok.Inc()
		return
	}
	cmd.failed.Inc()
}

// latencyBounds are the upper bounds of insight_grid_command_duration_seconds's buckets, in
// nanoseconds.
var latencyBounds = [...]time.Duration{5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 5e6, 2.5e7, 1e8, 1e9}

// latencyBucket is the bucket of a command that took d: the first whose bound d does not
// exceed, len(latencyBounds) above the last.
func latencyBucket(d time.Duration) int {
	for i, b := range latencyBounds {
		if d <= b {
			return i
		}
	}
	return len(latencyBounds)
}

// latencyHist is a command's insight_grid_command_duration_seconds histogram. Unlike a
// Prometheus histogram it takes a connection's tally of observations in one addition per
// bucket (tally.fold); latencyCollector exports it.
type latencyHist struct {
	name    string // the command label
	buckets [len(latencyBounds) + 1]atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

// Observe records one command that took secs seconds (EXEC's and scripts' commands).
func (h *latencyHist) Observe(secs float64) {
	d := time.Duration(secs * float64(time.Second))
	h.buckets[latencyBucket(d)].Add(1)
	h.sum.Add(int64(d))
}

// latencyCollector exports every command's latencyHist, as a HistogramVec labelled by
// command would.
type latencyCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (l *latencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	emit := func(h *latencyHist) {
		cum := make(map[float64]uint64, len(latencyBounds))
		var n uint64
		for i, b := range latencyBounds {
			n += h.buckets[i].Load()
			cum[b.Seconds()] = n
		}
		n += h.buckets[len(latencyBounds)].Load()
		ch <- prometheus.MustNewConstHistogram(l.desc, n, time.Duration(h.sum.Load()).Seconds(), cum, h.name)
	}
	for _, cmd := range l.s.cmds {
		emit(&cmd.latency)
		for _, sub := range cmd.subs {
			emit(&sub.latency)
		}
	}
}
