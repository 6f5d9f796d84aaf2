#!/usr/bin/env bash
# Persistence benchmark (make bench): write throughput of a data instance journaling to
# its --data-dir, as ratios to redis-server with its AOF on the same setting, measured in
# the same run on the same disk. For each appendfsync policy (no, everysec, always): one
# `insight-grid local --partitions 1 --data-dir D --appendfsync P` (no backup) and one
# redis-server --appendonly yes --appendfsync P, then redis-benchmark SET with 100-byte
# values, 50 clients, no pipelining, against each and against one grid without
# --data-dir (memory only, started once), in interleaved rounds so machine noise hits all
# alike. Prints each round, the mean throughputs, the ratio grid/redis per policy (the
# issue's target is >= 1.0x) and the journal's own cost (grid with it / grid without).
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
start_grid 1
mem_port=$grid_port
add() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }
summary=()
for policy in no everysec always; do
	start_grid 1 --data-dir "$work/grid-$policy" --appendfsync "$policy"
	start_redis --appendonly yes --appendfsync "$policy"
	g_sum=0 m_sum=0 r_sum=0
	for ((r = 1; r <= rounds; r++)); do
		g=$(rps "$grid_port")
		m=$(rps "$mem_port")
		rd=$(rps "$redis_port")
		printf 'appendfsync %-8s round %d: insight-grid %s  memory-only grid %s  redis %s requests/s\n' "$policy" "$r" "$g" "$m" "$rd"
		g_sum=$(add "$g_sum" "$g") m_sum=$(add "$m_sum" "$m") r_sum=$(add "$r_sum" "$rd")
	done
	metrics=$(curl -fsS "http://$grid_http/metrics")
	fsyncs=$(awk '$1 == "insight_grid_persist_fsyncs_total" { printf "%.0f", $2 }' <<<"$metrics")
	journal=$(awk '$1 == "insight_grid_persist_journal_bytes" { printf "%.0f", $2 }' <<<"$metrics")
	summary+=("$(awk -v p="$policy" -v g="$g_sum" -v m="$m_sum" -v r="$r_sum" -v n="$rounds" -v f="$fsyncs" -v j="$journal" 'BEGIN {
		printf "appendfsync %-8s insight-grid %7.0f  redis %7.0f requests/s: ratio %.2fx; memory-only grid %7.0f: the journal costs %.2fx (%s fsyncs, journal %s bytes)", p, g / n, r / n, g / r, m / n, g / m, f, j
	}')")
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
done
printf '%s\n' "${summary[@]}"
