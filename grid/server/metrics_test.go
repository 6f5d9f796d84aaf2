package server

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/store"
)

// TestCommandLatencyHistogramCounts: once a client has its replies, each command it ran
// is counted in insight_grid_command_duration_seconds (a pipeline's commands included);
// every command has its series from the start, as its insight_grid_commands_total has.
func TestCommandLatencyHistogramCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, dial := startServerReg(t, Config{Replication: Standalone{}}, store.New(1<<20), reg)
	c := dial()
	c.expect(encodeCmd("SET", "{k}a", "1"), "+OK\r\n")
	c.expect(encodeCmd("GET", "{k}a")+encodeCmd("GET", "{k}a")+encodeCmd("GET", "{k}b"), "$1\r\n1\r\n$1\r\n1\r\n$-1\r\n")

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "insight_grid_command_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "command" {
					counts[l.GetValue()] = m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if counts["set"] != 1 || counts["get"] != 3 {
		t.Fatalf("histogram counts %v, want set 1 and get 3", counts)
	}
	if counts["zadd"] != 0 || len(counts) < 100 {
		t.Fatalf("histogram series for %d commands (zadd %d), want every command's, empty if never run", len(counts), counts["zadd"])
	}
}
