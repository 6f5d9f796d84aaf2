#!/usr/bin/env bash
# Persistence benchmark (make bench): write throughput of a data instance journaling to
# its --data-dir, as ratios to redis-server with its AOF on the same setting, measured in
# the same run on the same disk. For each appendfsync policy (no, everysec, always): one
# `insight-grid local --partitions 1 --data-dir D --appendfsync P` (no backup) and one
# redis-server --appendonly yes --appendfsync P, then redis-benchmark SET with 100-byte
# values, 50 clients, no pipelining, against each in interleaved rounds so machine noise
# hits both alike. Prints each round, the mean throughputs and the ratio grid/redis per
# policy (the issue's target is >= 1.0x).
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Environment: BENCH_REQUESTS (default 100000 per test), BENCH_CLIENTS (50),
# BENCH_PERSIST_ROUNDS (3), BENCH_GRID_BIN (an insight-grid binary to use instead of
# building one). The files go to a temporary directory (on the disk of $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-100000}
clients=${BENCH_CLIENTS:-50}
rounds=${BENCH_PERSIST_ROUNDS:-3}

log() { printf 'bench-persist: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli redis-benchmark redis-server go

# rps PORT: redis-benchmark's SET throughput (requests per second) against 127.0.0.1:PORT.
rps() {
	redis-benchmark -h 127.0.0.1 -p "$1" -t set -d 100 -c "$clients" -n "$requests" -r 1000000 --csv |
		awk -F, '$1 == "\"SET\"" { gsub(/"/, "", $2); print $2 }'
}

log "disk: $(df -T "$work" | awk 'NR == 2 { print $1, $2 }')"
summary=()
for policy in no everysec always; do
	start_grid 1 --data-dir "$work/grid-$policy" --appendfsync "$policy"
	start_redis --appendonly yes --appendfsync "$policy"
	g_sum=0 r_sum=0
	for ((r = 1; r <= rounds; r++)); do
		g=$(rps "$grid_port")
		rd=$(rps "$redis_port")
		printf 'appendfsync %-8s round %d: insight-grid %s  redis %s requests/s\n' "$policy" "$r" "$g" "$rd"
		g_sum=$(awk -v a="$g_sum" -v b="$g" 'BEGIN { print a + b }')
		r_sum=$(awk -v a="$r_sum" -v b="$rd" 'BEGIN { print a + b }')
	done
	fsyncs=$(curl -fsS "http://$grid_http/metrics" | awk '$1 == "insight_grid_persist_fsyncs_total" { print $2 }')
	journal=$(curl -fsS "http://$grid_http/metrics" | awk '$1 == "insight_grid_persist_journal_bytes" { print $2 }')
	summary+=("$(awk -v p="$policy" -v g="$g_sum" -v r="$r_sum" -v n="$rounds" -v f="$fsyncs" -v j="$journal" 'BEGIN {
		printf "appendfsync %-8s insight-grid %7.0f  redis %7.0f requests/s  ratio %.2fx  (grid: %s fsyncs, journal %s bytes)", p, g / n, r / n, g / r, f, j
	}')")
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
done
printf '%s\n' "${summary[@]}"
