#!/usr/bin/env bash
# TLS benchmark (make bench): what TLS costs on the replication stream and on RESP, as
# ratios measured in the same run. Two `insight-grid local --partitions 1 --ha` grids: one
# with local's TLS (replication over mutual TLS on the replication port, RESP over TLS
# beside plain RESP) and one with --insecure (all plain). redis-benchmark SET with 100-byte
# values, 50 clients, no pipelining (each write waits for the backup's acknowledgement), in
# interleaved rounds so machine noise hits every target alike, against:
#   plain    the --insecure grid's RESP port
#   repl-tls the TLS grid's plain RESP port: only the replication stream is on TLS
#   tls      the TLS grid's TLS port (redis-benchmark --tls --cacert): client and replication
# Prints each round, then the mean throughputs and the ratios repl-tls/plain (the
# replication stream's cost), tls/repl-tls (RESP's) and tls/plain (both).
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Environment: BENCH_REQUESTS (default 100000 per test), BENCH_CLIENTS (50),
# BENCH_TLS_ROUNDS (3), BENCH_GRID_BIN (an insight-grid binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-100000}
clients=${BENCH_CLIENTS:-50}
rounds=${BENCH_TLS_ROUNDS:-3}

log() { printf 'bench-tls: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli redis-benchmark go

# start_ha_grid (ci/lib/grid.sh) writes local's summary to $work/grid.out: keep each grid's.
start_ha_grid 1
cp "$work/grid.out" "$work/tls.out"
tls_plain=$((base + 10)) tls_port=$((base + 510))
ca=$(sed -n 's/^ca-cert-file //p' "$work/tls.out")
[ -n "$ca" ] || { log "the TLS grid printed no ca-cert-file line"; exit 1; }
start_ha_grid 1 --insecure
plain_port=$((base + 10))

# rps ARG...: redis-benchmark's SET throughput (requests per second) with ARGs.
rps() {
	redis-benchmark -h 127.0.0.1 -t set -d 100 -c "$clients" -n "$requests" --csv "$@" |
		awk -F, '$1 == "\"SET\"" { gsub(/"/, "", $2); print $2 }'
}

declare -A sum=([plain]=0 [repl-tls]=0 [tls]=0)
for ((r = 1; r <= rounds; r++)); do
	p=$(rps -p "$plain_port")
	rt=$(rps -p "$tls_plain")
	t=$(rps -p "$tls_port" --tls --cacert "$ca")
	printf 'round %d: plain %s  repl-tls %s  tls %s requests/s\n' "$r" "$p" "$rt" "$t"
	sum[plain]=$(awk -v a="${sum[plain]}" -v b="$p" 'BEGIN { print a + b }')
	sum[repl-tls]=$(awk -v a="${sum[repl-tls]}" -v b="$rt" 'BEGIN { print a + b }')
	sum[tls]=$(awk -v a="${sum[tls]}" -v b="$t" 'BEGIN { print a + b }')
done
awk -v p="${sum[plain]}" -v rt="${sum[repl-tls]}" -v t="${sum[tls]}" -v n="$rounds" 'BEGIN {
	printf "mean SET: plain %.0f  repl-tls %.0f  tls %.0f requests/s\n", p / n, rt / n, t / n
	printf "ratios: replication on TLS %.2fx, RESP on TLS %.2fx, both %.2fx (of plain)\n", rt / p, t / rt, t / p
}'
