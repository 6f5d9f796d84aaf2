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
// and what crossed the link; then the lag under a steady offered rate (BENCH_WAN_RATE
// writes/s, default 20000) rather than at saturation. It prints its figures; it asserts
// only that it could run.
func TestBenchWAN(t *testing.T) {
	if os.Getenv("INSIGHT_BENCH_WAN") != "1" {
		t.Skip("the WAN benchmark: set INSIGHT_BENCH_WAN=1 (ci/bench-wan.sh)")
	}
	clients := envInt("BENCH_WAN_CLIENTS", 32)
	dur := time.Duration(envInt("BENCH_WAN_SECONDS", 8)) * time.Second
	rounds := envInt("BENCH_WAN_ROUNDS", 2)
	partitions := envInt("BENCH_WAN_PARTITIONS", 2)
	rate := envInt("BENCH_WAN_RATE", 20000)
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

	var off, on, metaOnly, steady []float64
	var lags, steadyLags []time.Duration
	var lmu sync.Mutex
	probe := func(r int, into *[]time.Duration) func(context.Context) {
		return func(pctx context.Context) {
			for n := 0; pctx.Err() == nil; n++ {
				if d := lag(pctx, a, b, r*1_000_000+n); d >= 0 {
					lmu.Lock()
					*into = append(*into, d)
					lmu.Unlock()
				}
			}
		}
	}
	var gw0, gw api.WANGatewayStatus
	for r := range rounds {
		off = append(off, load(ctx, t, anchor, clients, dur, 0, fmt.Sprintf("r%d", r), nil))
		metaOnly = append(metaOnly, load(ctx, t, meta, clients, dur, 0, fmt.Sprintf("r%d", r), nil))
		on = append(on, load(ctx, t, a, clients, dur, 0, fmt.Sprintf("r%d", r), probe(r, &lags)))
	}
	if err := getGateway(ctx, a, &gw0); err != nil {
		t.Fatalf("london's gateway status: %v", err)
	}
	for r := range rounds {
		steady = append(steady, load(ctx, t, a, clients, dur, rate, fmt.Sprintf("s%d", r), probe(rounds+r, &steadyLags)))
	}
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
	t.Logf("bench-wan: replication lag london->paris under that load over %d probes: p50 %s p99 %s", len(lags), pct(lags, 0.5), pct(lags, 0.99))
	secs := float64(rounds) * dur.Seconds()
	t.Logf("bench-wan: london's gateway sent %d batches, %d keys, %.1f MB compressed: %.0f keys/s, %.2f MB/s over the saturated WAN runs' %.0fs",
		gw0.Batches, gw0.Keys, float64(gw0.Bytes)/1e6, float64(gw0.Keys)/secs, float64(gw0.Bytes)/1e6/secs, secs)
	t.Logf("bench-wan: at a steady %d writes/s offered to london (achieved %.0f): replication lag london->paris over %d probes: p50 %s p99 %s (target p99 <= 100ms)",
		rate, mean(steady), len(steadyLags), pct(steadyLags, 0.5), pct(steadyLags, 0.99))
	t.Logf("bench-wan: meanwhile london's gateway sent %d batches, %d keys, %.1f MB compressed: %.0f keys/s, %.2f MB/s",
		gw.Batches-gw0.Batches, gw.Keys-gw0.Keys, float64(gw.Bytes-gw0.Bytes)/1e6, float64(gw.Keys-gw0.Keys)/secs, float64(gw.Bytes-gw0.Bytes)/1e6/secs)
}

// load runs clients SET loops at s for d and returns the acknowledged writes per second:
// as fast as they go with rate 0, else offering rate writes/s in all (the i-th write of
// the run is due at i/rate; one behind its time goes at once). probe, when given, runs
// alongside.
func load(ctx context.Context, t *testing.T, s *site, clients int, d time.Duration, rate int, tag string, probe func(context.Context)) float64 {
	t.Helper()
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, seq atomic.Int64
	var wg sync.WaitGroup
	val := make([]byte, 64)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				if rate > 0 {
					due := start.Add(time.Duration(seq.Add(1)-1) * time.Second / time.Duration(rate))
					if w := time.Until(due); w > 0 {
						select {
						case <-lctx.Done():
							return
						case <-time.After(w):
						}
					}
				}
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
