package server

import (
	"fmt"

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
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "insight_grid_command_duration_seconds",
		Help:    "Time to execute a command, excluding network and queueing.",
		Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 1},
	}, []string{"command"})
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
		cmd.ok = commands.WithLabelValues(name, "ok")
		cmd.failed = commands.WithLabelValues(name, "error")
		cmd.latency = latency.WithLabelValues(name)
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
