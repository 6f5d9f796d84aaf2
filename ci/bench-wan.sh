#!/usr/bin/env bash
# WAN replication benchmark (make bench): grid/wan/itest's TestBenchWAN, which starts four
# `insight-grid local` grids on loopback in the same run — an anchor without WAN, two sites
# replicating to each other (london -> paris), and a site whose target never starts (rome:
# its writes pay for the metadata and the outbox alone) — and prints, rounds interleaved:
# write throughput with WAN against the anchor (ratios), the replication lag london->paris
# p50/p99 under that load (a probe key written at one site and polled at the other), and
# what london's gateway sent (batches, keys, compressed bytes); then the same lag with
# london offered a steady BENCH_WAN_RATE writes/s (the achieved rate printed), rather than
# at saturation, and what its gateway sent meanwhile. Then TestBenchWANRepair: a
# site restarted without the BENCH_WAN_REPAIR_KEYS (100000) keys it had acknowledged is
# repaired by digests; it prints the time, the slots compared and the keys and bytes sent.
#
# Two sites on one machine would share its cores, so the source's ratio would also pay the
# target's apply: the benchmark splits the CPUs it may use in two halves, as two machines
# (taskset): the anchor, london, rome and the clients on the first, paris on the second
# (BENCH_WAN_CPUS=shared: all of them share every CPU, as before). The "target down" ratio
# is the local cost of the metadata and the outbox alone. Targets: ratio >= 0.8, lag p99 <= 100 ms at 20k writes/s.
# Not a timed test: the exit code only says the run worked. Builds insight-grid into a
# temporary directory (the test does); stops only the processes it started.
#
# Environment: BENCH_WAN_CLIENTS (default 32), BENCH_WAN_SECONDS (8 per run),
# BENCH_WAN_ROUNDS (2), BENCH_WAN_PARTITIONS (2 per site), BENCH_WAN_RATE (20000 writes/s
# offered in the steady-rate runs, BENCH_WAN_ROUNDS of BENCH_WAN_SECONDS), BENCH_WAN_CPUS
# (split, the default, or shared).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "bench-wan: go not found" >&2; exit 1; }
INSIGHT_BENCH_WAN=1 nice go test -count=1 -timeout 900s -run '^TestBenchWAN(Repair)?$' -v ./grid/wan/itest/ 2>&1 |
	grep -E 'bench-wan(-repair)?:|^(--- |ok|FAIL|panic)' | sed -E -e 's/^ *(bench|digest)_test.go:[0-9]*: //'
exit "${PIPESTATUS[0]}"
