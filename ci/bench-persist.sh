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
# The HA rows, per appendfsync policy (everysec, always): `insight-grid local --ha
# --data-dir D --appendfsync P` (each write acknowledged once the backup applied it)
# against redis-server with one replica, both with --appendonly yes --appendfsync P, each
# write followed by WAIT 1 0 (ci/loadgen --wait-replicas 1; redis-benchmark cannot WAIT),
# 50 clients, 100-byte values, BENCH_PERSIST_HA_ROUNDS rounds of BENCH_PERSIST_HA_DURATION
# each, interleaved; prints the ratio grid/redis.
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Environment: BENCH_REQUESTS (default 100000 per test), BENCH_CLIENTS (50),
# BENCH_PERSIST_ROUNDS (3), BENCH_PERSIST_HA_ROUNDS (2), BENCH_PERSIST_HA_DURATION (10s),
# BENCH_GRID_BIN (an insight-grid binary to use instead of building one). The files go to a temporary directory (on the disk of $TMPDIR).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-100000}
clients=${BENCH_CLIENTS:-50}
rounds=${BENCH_PERSIST_ROUNDS:-3}
ha_rounds=${BENCH_PERSIST_HA_ROUNDS:-2}
ha_duration=${BENCH_PERSIST_HA_DURATION:-10s}

log() { printf 'bench-persist: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli redis-benchmark redis-server curl go

# rps PORT: redis-benchmark's SET throughput (requests per second) against 127.0.0.1:PORT.
rps() {
	redis-benchmark -h 127.0.0.1 -p "$1" -t set -d 100 -c "$clients" -n "$requests" -r 1000000 --csv |
		awk -F, '$1 == "\"SET\"" { gsub(/"/, "", $2); print $2 }'
}

log "disk: $(df -T "$work" | awk 'NR == 2 { print $1, $2 }')"
start_grid 1
mem_port=$grid_port mem_pid=$grid_pid
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
	metrics=$(curl -fsS "http://127.0.0.1:$((grid_port + 2000))/metrics") # the metrics port: base+2010
	fsyncs=$(awk '$1 == "insight_grid_persist_fsyncs_total" { printf "%.0f", $2 }' <<<"$metrics")
	journal=$(awk '$1 == "insight_grid_persist_journal_bytes" { printf "%.0f", $2 }' <<<"$metrics")
	summary+=("$(awk -v p="$policy" -v g="$g_sum" -v m="$m_sum" -v r="$r_sum" -v n="$rounds" -v f="$fsyncs" -v j="$journal" 'BEGIN {
		printf "appendfsync %-8s insight-grid %7.0f  redis %7.0f requests/s: ratio %.2fx; memory-only grid %7.0f: the journal costs %.2fx (%s fsyncs, journal %s bytes)", p, g / n, r / n, g / r, m / n, g / m, f, j
	}')")
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
done

# The HA rows: a backup (replica) acknowledging each write, both sides journaling.
stop_pid "$mem_pid"
ha_summary=()
for policy in everysec always; do
	start_redis --appendonly yes --appendfsync "$policy"
	primary_port=$redis_port primary_pid=$redis_pid
	start_redis --appendonly yes --appendfsync "$policy" --replicaof 127.0.0.1 "$primary_port"
	replica_pid=$redis_pid
	for _ in $(seq 1 200); do
		redis-cli -p "$redis_port" info replication 2>/dev/null | grep -q '^master_link_status:up' && break
		sleep 0.05
	done
	redis-cli -p "$redis_port" info replication | grep -q '^master_link_status:up' || { log "the replica's link to the primary is not up"; exit 1; }
	start_ha_grid 1 --data-dir "$work/ha-$policy" --appendfsync "$policy" --log-level warn
	ha_grid_pid=$grid_pid
	primary=$(field primary "$(curl -fsS "http://$api/v1/partitions/0")")
	[[ $primary =~ ^p0-i[01]$ ]] || { log "the manager names no primary for partition 0 (got '$primary')"; exit 1; }
	g_sum=0 r_sum=0
	for ((r = 1; r <= ha_rounds; r++)); do
		ro=$("$work/loadgen" --clients "$clients" --value-size 100 --addr "127.0.0.1:$primary_port" --wait-replicas 1 --duration "$ha_duration")
		go_=$("$work/loadgen" --clients "$clients" --value-size 100 --addr "$(resp_addr "$primary")" --duration "$ha_duration")
		for out in "$ro" "$go_"; do
			[ "$(field errors "$out")" = 0 ] && [ "$(field not_replicated "$out")" = 0 ] || log "HA round $r: $out"
		done
		g=$(field ops_per_sec "$go_") rd=$(field ops_per_sec "$ro")
		printf 'HA appendfsync %-8s round %d: insight-grid --ha %.0f  redis + replica, WAIT 1 0 %.0f acknowledged writes/s\n' "$policy" "$r" "$g" "$rd"
		g_sum=$(add "$g_sum" "$g") r_sum=$(add "$r_sum" "$rd")
	done
	ha_summary+=("$(awk -v p="$policy" -v g="$g_sum" -v r="$r_sum" -v n="$ha_rounds" 'BEGIN {
		printf "HA appendfsync %-8s insight-grid --ha %7.0f  redis + replica (WAIT 1 0) %7.0f acknowledged writes/s: ratio %.2fx", p, g / n, r / n, g / r
	}')")
	stop_pid "$ha_grid_pid"
	stop_pid "$replica_pid"
	stop_pid "$primary_pid"
done
printf '%s\n' "${summary[@]}" "${ha_summary[@]}"
