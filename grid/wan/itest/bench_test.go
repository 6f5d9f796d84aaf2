package itest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	srcCPUs, dstCPUs := splitCPUs(t)
	for _, s := range sp {
		s.cpus = srcCPUs
	}
	sp[2].cpus = dstCPUs // paris, the target: a machine of its own
	sp[0].noWAN = true
	// rome replicates to nowhere, which never starts: its writes pay for the metadata
	// and the outbox alone, nothing is shipped or applied on this machine.
	sp[3].args = []string{"--wan-outbox-max", "100000000"}
	anchor, a, b := start(t, sp[0], sp[:1]), start(t, sp[1], sp[1:3]), start(t, sp[2], sp[1:3])
	meta := start(t, sp[3], sp[3:])
	ctx := ctxFor(t, 10*time.Minute)

	var off, on, metaOnly, steady []float64
	// CPU time per acknowledged write (µs) of the loaded site's processes, and of paris's
	// while london ships to it: throughput moves with what else the machine runs, the
	// CPU a write costs much less.
	var offCPU, onCPU, metaCPU, parisCPU []float64
	measure := func(s *site, rate int, tag string, probe func(context.Context), cpu *[]float64) float64 {
		c0, p0 := treeCPU(t, s.cmd.Process.Pid), treeCPU(t, b.cmd.Process.Pid)
		t0 := time.Now()
		r := load(ctx, t, s, clients, dur, rate, tag, probe)
		writes := r * time.Since(t0).Seconds()
		c1, p1 := treeCPU(t, s.cmd.Process.Pid), treeCPU(t, b.cmd.Process.Pid)
		if cpu != nil && writes > 0 {
			*cpu = append(*cpu, float64((c1-c0).Microseconds())/writes)
			if s == a {
				parisCPU = append(parisCPU, float64((p1-p0).Microseconds())/writes)
			}
		}
		return r
	}
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
		off = append(off, measure(anchor, 0, fmt.Sprintf("r%d", r), nil, &offCPU))
		metaOnly = append(metaOnly, measure(meta, 0, fmt.Sprintf("r%d", r), nil, &metaCPU))
		on = append(on, measure(a, 0, fmt.Sprintf("r%d", r), probe(r, &lags), &onCPU))
	}
	if err := getGateway(ctx, a, &gw0); err != nil {
		t.Fatalf("london's gateway status: %v", err)
	}
	for r := range rounds {
		steady = append(steady, measure(a, rate, fmt.Sprintf("s%d", r), probe(rounds+r, &steadyLags), nil))
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
	if srcCPUs != "" {
		t.Logf("bench-wan: CPUs: the anchor, london, rome and the clients on %s; paris (london's target) on %s", srcCPUs, dstCPUs)
	} else {
		t.Logf("bench-wan: CPUs: every site and the clients share all of them (BENCH_WAN_CPUS=shared)")
	}
	t.Logf("bench-wan: writes/s without WAN (anchor) %.0f; with WAN, its target down (metadata and outbox only) %.0f, ratio %.2f", mean(off), mean(metaOnly), mean(metaOnly)/mean(off))
	t.Logf("bench-wan: writes/s with WAN to paris %.0f, ratio %.2f (target >= 0.8)", mean(on), mean(on)/mean(off))
	t.Logf("bench-wan: CPU µs per write of the site's processes (its gateway included): without WAN %.1f; target down %.1f, ratio %.2f; shipping to paris %.1f, ratio %.2f (the throughput ratio a site bound by its CPU would see); paris applying %.1f",
		mean(offCPU), mean(metaCPU), mean(offCPU)/mean(metaCPU), mean(onCPU), mean(offCPU)/mean(onCPU), mean(parisCPU))
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

// treeCPU is the CPU time (user and system) process pid and its descendants have used.
func treeCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("listing /proc: %v", err)
	}
	parent := map[int]int{}
	ticks := map[int]int64{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// State, ppid, ... utime (the line's 14th field), stime; nil if it exited meanwhile.
		f := statFields("/proc/" + e.Name() + "/stat")
		if len(f) < 13 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		parent[p], ticks[p] = pp, ut+st
	}
	var sum int64
	for p, n := range ticks {
		for q := p; q > 1; q = parent[q] {
			if q == pid {
				sum += n
				break
			}
		}
	}
	return time.Duration(sum) * time.Second / clockTicks
}

// clockTicks is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux.
const clockTicks = 100

// splitCPUs binds the benchmark to two disjoint halves of the CPUs it may use, as two
// sites run on two machines: it returns the CPU lists for the source sites and for the
// target (taskset's -c form) and binds this process, whose goroutines are the clients,
// to the first. BENCH_WAN_CPUS=shared (or fewer than 2 CPUs) shares them all: "", "".
func splitCPUs(t *testing.T) (src, dst string) {
	t.Helper()
	mode := os.Getenv("BENCH_WAN_CPUS")
	if mode != "" && mode != "split" && mode != "shared" {
		t.Fatalf("BENCH_WAN_CPUS=%q: allowed are split (the default) and shared", mode)
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatalf("reading this process's CPUs: %v", err)
	}
	var cpus []int
	for c := range 1024 {
		if all.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if mode == "shared" || len(cpus) < 2 {
		return "", ""
	}
	half := len(cpus) / 2
	var mine unix.CPUSet
	for _, c := range cpus[:half] {
		mine.Set(c)
	}
	// Every thread of this process, and those created later, which inherit it.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatalf("listing this process's threads: %v", err)
	}
	for _, e := range tasks {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			if err := unix.SchedSetaffinity(tid, &mine); err != nil && !errors.Is(err, unix.ESRCH) {
				t.Fatalf("binding thread %d to CPUs %v: %v", tid, cpus[:half], err)
			}
		}
	}
	list := func(cs []int) string {
		parts := make([]string, len(cs))
		for i, c := range cs {
			parts[i] = strconv.Itoa(c)
		}
		return strings.Join(parts, ",")
	}
	return list(cpus[:half]), list(cpus[half:])
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil || v <= 0 {
		return def
	}
	return v
}
