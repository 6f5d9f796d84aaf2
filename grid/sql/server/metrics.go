package server

import (
	"errors"
	"strconv"
	"time"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the endpoint's Prometheus metrics.
type metrics struct {
	reg      *prometheus.Registry
	queries  *prometheus.CounterVec
	duration prometheus.Histogram
	rows     prometheus.Counter
	conns    prometheus.Gauge
	reused   prometheus.Counter
	points   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "insight_sql_queries_total",
			Help: "Statements run (text protocol queries and prepared statement executions), by result: ok, or the MySQL error code.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "insight_sql_query_duration_seconds",
			Help:    "Time from a statement's arrival to its last row sent.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		rows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "insight_sql_rows_returned_total",
			Help: "Result rows sent to clients.",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "insight_sql_connections",
			Help: "Open client connections.",
		}),
		reused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "insight_sql_prepared_plans_reused_total",
			Help: "Prepared statement executions that reused the plan of an earlier execution (primary-key lookups by parameters) instead of planning again.",
		}),
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "insight_sql_prepared_point_reads_total",
			Help: "Prepared point selects (SELECT columns FROM table WHERE pk = ?) answered by the endpoint's own key read, without the engine; also counted in insight_sql_prepared_plans_reused_total.",
		}),
	}
	m.reg.MustRegister(m.queries, m.duration, m.rows, m.conns, m.reused, m.points)
	return m
}

func (m *metrics) observe(d time.Duration, rows int64, err error) {
	result := "ok"
	if err != nil {
		result = "error"
		var se *mysql.SQLError
		if errors.As(err, &se) {
			result = strconv.Itoa(se.Number())
		}
	}
	m.queries.WithLabelValues(result).Inc()
	m.duration.Observe(d.Seconds())
	m.rows.Add(float64(rows))
}

// The server's ServerEventListener: connections only (statements are observed by the
// handler, which sees their rows).

func (m *metrics) ClientConnected()                   { m.conns.Inc() }
func (m *metrics) ClientDisconnected()                { m.conns.Dec() }
func (m *metrics) QueryStarted()                      {}
func (m *metrics) QueryCompleted(bool, time.Duration) {}
