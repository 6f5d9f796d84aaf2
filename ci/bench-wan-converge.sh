#!/usr/bin/env bash
# WAN convergence benchmark (make bench): grid/wan/itest's TestBenchWANConverge. Two sites
# (`insight-grid local --site`, 2 partitions each) run in their own network namespaces
# joined through a router namespace, as the cut tests; after a steady state (lag probes
# both ways) the link is cut (blackhole routes in the router) for BENCH_WAN_CONVERGE_CUT_SECONDS
# while one site takes BENCH_WAN_CONVERGE_KEYS distinct keys (64-byte values) from pipelined
# clients — for longer than the cut if that many do not fit, the actual cut length printed
# — and both sites write BENCH_WAN_CONVERGE_CONTENDED keys of their own (last-writer-wins
# decides them). Both sites run --wan-outbox-full mark-out-of-sync, so a cut with more
# keys than the outbox bound marks the target out of sync; the heal resynchronizes it from
# the metadata, then repairs it by digests. The anchor, in the same run: two more sites doing
# the same with an outbox bound above the keys written, so the heal drains the outbox. Each
# prints the write rate, the time from the heal until no backlog either way and until both
# sites' per-slot digests are identical, the keys, batches and compressed bytes the
# gateways sent, which path ran (partitions marked out of sync, the repairs and what they
# sent), and the data instances' resident memory (now and peak) before the cut, at the
# heal and after converging; then it checks every acknowledged key at both sites and the
# contended keys equal at both. Last, the ratio of the two heal times.
#
# Needs root (or CAP_SYS_ADMIN) for the network namespaces; skips otherwise. Not a timed
# test: the exit code only says the run worked (it converged within the wait, no key
# missing). Builds insight-grid into a temporary directory (the test does); stops only the
# processes it started. 1M keys take several GB of disk under the test's temporary
# directory (the sites journal) and several minutes.
#
# Environment: BENCH_WAN_CONVERGE_KEYS (default 1000000), BENCH_WAN_CONVERGE_CONTENDED
# (10000), BENCH_WAN_CONVERGE_CUT_SECONDS (30), BENCH_WAN_CONVERGE_OUTBOX_MAX (100000 per
# partition, the default bound), BENCH_WAN_CONVERGE_CLIENTS (8 pipelined clients, 500 SETs
# a pipeline), BENCH_WAN_CONVERGE_WAIT_SECONDS (600: the longest wait for convergence),
# BENCH_WAN_CONVERGE_ANCHOR (0: skip the anchor).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "bench-wan-converge: go not found" >&2; exit 1; }
INSIGHT_BENCH_WAN_CONVERGE=1 nice go test -count=1 -timeout 1800s -run '^TestBenchWANConverge$' -v ./grid/wan/itest/ 2>&1 |
	grep -E 'bench-wan-converge:|^(--- |ok|FAIL|panic)|_test.go:[0-9]+: ' | sed -E -e 's/^ *[a-z_]+_test.go:[0-9]*: //'
exit "${PIPESTATUS[0]}"
