package itest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// TestBenchWAN is the WAN benchmark (ci/bench-wan.sh, make bench), skipped unless
// INSIGHT_BENCH_WAN=1: the write throughput of a site replicating to another against the
// same grid without WAN (the anchor, measured in the same run, rounds interleaved), the
// replication lag under that load (a probe key written at one site, read at the other),
// and what crossed the link. It prints its figures; it asserts only that it could run.
func TestBenchWAN(t *testing.T) {
	if os.Getenv("INSIGHT_BENCH_WAN") != "1" {
		t.Skip("the WAN benchmark: set INSIGHT_BENCH_WAN=1 (ci/bench-wan.sh)")
	}
	clients := envInt("BENCH_WAN_CLIENTS", 32)
	dur := time.Duration(envInt("BENCH_WAN_SECONDS", 8)) * time.Second
	rounds := envInt("BENCH_WAN_ROUNDS", 2)
	partitions := envInt("BENCH_WAN_PARTITIONS", 2)
	sp := specs(t, "anchor", "london", "paris", "rome", "nowhere")
	for _, s := range sp {
		s.partitions = partitions
	}
	sp[0].noWAN = true
	// rome replicates to nowhere, which never starts: its writes pay for the metadata
	// and the outbox alone, nothing is shipped or applied on this machine.
	sp[3].args = []string{"--wan-outbox-max", "100000000"}
	anchor, a, b := start(t, sp[0], sp[:1]), start(t, sp[1], sp[1:3]), start(t, sp[2], sp[1:3])
	meta := start(t, sp[3], sp[3:])
	ctx := ctxFor(t, 10*time.Minute)

	var off, on, metaOnly []float64
	var lags []time.Duration
	for r := range rounds {
		off = append(off, load(ctx, t, anchor, clients, dur, fmt.Sprintf("r%d", r), nil))
		metaOnly = append(metaOnly, load(ctx, t, meta, clients, dur, fmt.Sprintf("r%d", r), nil))
		var lmu sync.Mutex
		on = append(on, load(ctx, t, a, clients, dur, fmt.Sprintf("r%d", r), func(pctx context.Context) {
			for n := 0; pctx.Err() == nil; n++ {
				if d := lag(pctx, a, b, r*1_000_000+n); d >= 0 {
					lmu.Lock()
					lags = append(lags, d)
					lmu.Unlock()
				}
			}
		}))
	}
	var gw api.WANGatewayStatus
	if err := getGateway(ctx, a, &gw); err != nil {
		t.Fatalf("london's gateway status: %v", err)
	}
	mean := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	t.Logf("bench-wan: %d partitions, %d clients, %d rounds of %s (SET of 64 bytes, unique keys)", partitions, clients, rounds, dur)
	t.Logf("bench-wan: writes/s without WAN (anchor) %.0f; with WAN, its target down (metadata and outbox only) %.0f, ratio %.2f", mean(off), mean(metaOnly), mean(metaOnly)/mean(off))
	t.Logf("bench-wan: writes/s with WAN to one site on this machine (its gateway and the target's apply share the cores) %.0f, ratio %.2f (target >= 0.8)", mean(on), mean(on)/mean(off))
	t.Logf("bench-wan: replication lag london->paris under that load over %d probes: p50 %s p99 %s (target p99 <= 100ms)", len(lags), pct(lags, 0.5), pct(lags, 0.99))
	secs := float64(rounds) * dur.Seconds()
	t.Logf("bench-wan: london's gateway sent %d batches, %d keys, %.1f MB compressed: %.0f keys/s, %.2f MB/s over the WAN runs' %.0fs",
		gw.Batches, gw.Keys, float64(gw.Bytes)/1e6, float64(gw.Keys)/secs, float64(gw.Bytes)/1e6/secs, secs)
}

// load runs clients SET loops at s for d and returns the acknowledged writes per second;
// probe, when given, runs alongside.
func load(ctx context.Context, t *testing.T, s *site, clients int, d time.Duration, tag string, probe func(context.Context)) float64 {
	t.Helper()
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	val := make([]byte, 64)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				if s.rdb.Set(lctx, fmt.Sprintf("bench:%s:%d:%d", tag, c, i), val, 0).Err() == nil {
					n.Add(1)
				}
			}
		}()
	}
	if probe != nil {
		wg.Add(1)
		go func() { defer wg.Done(); probe(lctx) }()
	}
	start := time.Now()
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}
