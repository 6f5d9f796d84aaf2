#!/usr/bin/env bash
# HA benchmark (make bench): acknowledged writes/s and p99 of the grid with its synchronous
# backup (`insight-grid local --partitions 1 --ha`) against redis-server with one replica
# where the client sends `WAIT 1 0` after each SET (the same guarantee: a write is
# acknowledged once it is on two processes), measured in the same run with the same client
# (ci/loadgen), client count and value size. The runs are interleaved (redis, grid, redis,
# grid) so machine noise hits both sides alike. Then the failover: unique-key writes through
# a cluster client, `kill -9` of the partition primary, the longest interval without an
# acknowledged write (the write gap) and a read-back of every acknowledged key (lost writes).
#
# Targets: ratio grid/redis >= 1.0 at 50 clients, grid p99 <= 2.9 ms, failover
# write gap <= 2 s, 0 lost writes. Not a timed test: the numbers are for reading and the
# exit code only says the run worked. Installs nothing (ci/tools.sh does); builds
# insight-grid and loadgen into a temporary directory; stops only the processes it started.
#
# Environment: BENCH_CLIENTS (default 50), BENCH_HA_DURATION (10s per run),
# BENCH_HA_VALUE_SIZE (64), BENCH_HA_ROUNDS (2), BENCH_HA_FAILOVER_DURATION (8s),
# BENCH_HA_KILL_AFTER (3, seconds into the failover run).
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${BENCH_CLIENTS:-50}
duration=${BENCH_HA_DURATION:-10s}
value_size=${BENCH_HA_VALUE_SIZE:-64}
rounds=${BENCH_HA_ROUNDS:-2}
failover_duration=${BENCH_HA_FAILOVER_DURATION:-8s}
kill_after=${BENCH_HA_KILL_AFTER:-3}

log() { printf 'bench-ha: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-server redis-cli curl go

wait_ping() { # port what
	for _ in $(seq 1 200); do
		[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	log "$2 did not answer PING on 127.0.0.1:$1"; exit 1
}

# --- redis-server primary + replica -------------------------------------------------------
redis_port=$(free_port)
replica_port=$(free_port)
while [ "$replica_port" = "$redis_port" ]; do replica_port=$(free_port); done
mkdir -p "$work/redis" "$work/replica"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize no \
	--dir "$work/redis" --logfile "$work/redis/redis.log" &
pids+=($!)
wait_ping "$redis_port" "redis-server primary"
redis-server --bind 127.0.0.1 --port "$replica_port" --save '' --appendonly no --daemonize no \
	--replicaof 127.0.0.1 "$redis_port" --dir "$work/replica" --logfile "$work/replica/redis.log" &
pids+=($!)
wait_ping "$replica_port" "redis-server replica"
for _ in $(seq 1 200); do
	redis-cli -p "$replica_port" info replication 2>/dev/null | grep -q '^master_link_status:up' && break
	sleep 0.05
done
redis-cli -p "$replica_port" info replication | grep -q '^master_link_status:up' ||
	{ tail -20 "$work/replica/redis.log" >&2; log "the replica's link to the primary is not up"; exit 1; }

# --- the grid -----------------------------------------------------------------------------
start_ha_grid 1

primary_id() { field primary "$(curl -fsS "http://$api/v1/partitions/0")"; }

primary=$(primary_id)
[[ $primary =~ ^p0-i[01]$ ]] || { log "the manager names no primary for partition 0 (got '$primary')"; exit 1; }
grid_addr=$(resp_addr "$primary")
log "redis primary :$redis_port, replica :$replica_port; grid primary $primary at $grid_addr (manager $api)"

# --- throughput: interleaved runs ---------------------------------------------------------
loadgen() { "$work/loadgen" --clients "$clients" --value-size "$value_size" "$@"; }
printf '%-8s %12s %12s %7s %12s %12s %12s %12s\n' round redis_ops grid_ops ratio redis_p50ms grid_p50ms redis_p99ms grid_p99ms
sum_r=0 sum_g=0 p99s_r="" p99s_g=""
for round in $(seq 1 "$rounds"); do
	r=$(loadgen --addr "127.0.0.1:$redis_port" --wait-replicas 1 --duration "$duration")
	g=$(loadgen --addr "$grid_addr" --duration "$duration")
	for out in "$r" "$g"; do
		errs=$(field errors "$out") nrep=$(field not_replicated "$out")
		[ "$errs" = 0 ] && [ "$nrep" = 0 ] || log "round $round: $errs errors, $nrep not replicated: $out"
	done
	ro=$(field ops_per_sec "$r") go_=$(field ops_per_sec "$g")
	sum_r=$(awk -v a="$sum_r" -v b="$ro" 'BEGIN { print a + b }')
	sum_g=$(awk -v a="$sum_g" -v b="$go_" 'BEGIN { print a + b }')
	p99s_r="$p99s_r $(field p99_ms "$r")" p99s_g="$p99s_g $(field p99_ms "$g")"
	awk -v n="$round" -v r="$ro" -v g="$go_" -v r50="$(field p50_ms "$r")" -v g50="$(field p50_ms "$g")" \
		-v r99="$(field p99_ms "$r")" -v g99="$(field p99_ms "$g")" \
		'BEGIN { printf "%-8s %12.0f %12.0f %7.2f %12.3f %12.3f %12.3f %12.3f\n", n, r, g, g / r, r50, g50, r99, g99 }'
done
# The summary: mean throughput of the rounds and the worst p99 of each side.
read -r ratio worst_r worst_g < <(awk -v r="$sum_r" -v g="$sum_g" -v pr="$p99s_r" -v pg="$p99s_g" 'BEGIN {
	n = split(pr, a, " "); wr = 0; for (i = 1; i <= n; i++) if (a[i] + 0 > wr) wr = a[i] + 0
	n = split(pg, b, " "); wg = 0; for (i = 1; i <= n; i++) if (b[i] + 0 > wg) wg = b[i] + 0
	printf "%.2f %.3f %.3f\n", g / r, wr, wg }')
mean_r=$(awk -v s="$sum_r" -v n="$rounds" 'BEGIN { printf "%.0f", s / n }')
mean_g=$(awk -v s="$sum_g" -v n="$rounds" 'BEGIN { printf "%.0f", s / n }')
echo "redis+WAIT 1 0: $mean_r acknowledged writes/s, worst p99 $worst_r ms"
echo "grid --ha:      $mean_g acknowledged writes/s, worst p99 $worst_g ms"
echo "ratio = grid_ops / redis_ops = $ratio (target >= 1.0: $(verdict "$ratio" '>=' 1.0)); grid p99 $worst_g ms (target <= 2.9 ms: $(verdict "$worst_g" '<=' 2.9))"

# --- failover: kill -9 of the primary under unique-key writes -----------------------------
seeds="$(resp_addr p0-i0),$(resp_addr p0-i1)"
primary=$(primary_id)
victim=$(instance_pid "$primary")
[ -n "$victim" ] || { log "no pid for $primary"; exit 1; }
log "failover: writing unique keys for $failover_duration through $seeds, kill -9 of $primary (pid $victim) after ${kill_after}s"
loadgen --cluster --addr "$seeds" --keyspace unique --track-gap --acked-file "$work/acked" \
	--duration "$failover_duration" >"$work/failover.json" &
lg_pid=$!
pids+=("$lg_pid")
sleep "$kill_after"
kill -9 "$victim"
wait "$lg_pid" || { log "loadgen failed during the failover"; exit 1; }
f=$(cat "$work/failover.json")
sleep 0.5 # let the routing settle before reading back
v=$("$work/loadgen" --verify "$work/acked" --cluster --addr "$seeds" --value-size "$value_size" --clients 8)
new_primary=$(primary_id || true)
lost=$(($(field missing "$v") + $(field wrong "$v")))
gap_ms=$(field gap_ms "$f")
echo "failover: kill -9 $primary; acknowledged $(field ops "$f") writes ($(field errors "$f") errors) in $(field seconds "$f") s; primary now ${new_primary:-none}"
echo "failover write gap = $gap_ms ms, starting $(field gap_start_ms "$f") ms into the run (kill at ~${kill_after}000 ms) (target <= 2000 ms: $(verdict "$gap_ms" '<=' 2000))"
if [ "$(field errors "$v")" = 0 ]; then
	echo "lost writes = $lost of $(field checked "$v") acknowledged (missing $(field missing "$v"), wrong $(field wrong "$v")) (target 0: $(verdict "$lost" '<=' 0))"
else
	echo "lost writes = unknown: $(field errors "$v") of $(field checked "$v") read-backs failed ($(sfield first_error "$v")); $lost missing or wrong among the rest (target 0: NOT met)"
fi
grep -E '"msg":"(serving as primary|promoted|backup out of sync)"' "$work/grid.log" | tail -5 >&2 || true
log "$clients clients, $value_size-byte values, $rounds x $duration per side, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); redis $(redis-server --version | awk '{print $3}')"
