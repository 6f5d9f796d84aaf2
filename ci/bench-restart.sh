#!/usr/bin/env bash
# Restart benchmark (make bench): how long a data instance takes to load its data directory
# (the newest snapshot, then the journal after it) per GB of data, as a ratio to
# redis-server loading its append-only file (an RDB base and the AOF after it, Redis 7's
# multi-part AOF) of the same data set, measured in the same run on the same disk.
# One `insight-grid local --partitions 1 --data-dir D --appendfsync everysec` (no backup)
# and one `redis-server --appendonly yes --appendfsync everysec` (its defaults: RDB
# preamble, auto-aof-rewrite at 64mb and 100%, as the grid's snapshot policy) are each
# filled with the same keys (loadgen fill: BENCH_RESTART_MB of 1000-byte values, then the
# first half written again, so both hold a compacted base and a log after it), stopped
# with SIGTERM and started again, BENCH_RESTART_ROUNDS times, alternating. The load time
# is each server's own: the grid's /v1/status persistence.loadMillis, Redis's log line
# "DB loaded from append only file: S seconds"; the wall time to serving is printed too
# (the grid's includes local starting its manager's etcd). The files are in the page cache
# for both (just written): this measures parsing and applying, not a cold disk.
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Environment: BENCH_RESTART_MB (default 512), BENCH_RESTART_ROUNDS (2), BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

mb=${BENCH_RESTART_MB:-512}
rounds=${BENCH_RESTART_ROUNDS:-2}
value_size=1000

log() { printf 'bench-restart: %s\n' "$*" >&2; }

[[ $mb =~ ^[1-9][0-9]*$ ]] || { log "BENCH_RESTART_MB=$mb: want a whole number of megabytes, at least 1"; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { log "BENCH_RESTART_ROUNDS=$rounds: want a whole number, at least 1"; exit 2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli redis-server curl go

keys=$((mb * 1024 * 1024 / (value_size + 16)))
gb=$(awk -v k="$keys" -v v="$value_size" 'BEGIN { printf "%.4f", k * (v + 16) / 1073741824 }')
log "disk: $(df -T "$work" | awk 'NR == 2 { print $1, $2 }'); data set: $keys keys of $value_size bytes ($gb GB), then the first half written again"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

fill() { # addr
	local out
	out=$("$work/loadgen" fill --addr "$1" --keys "$keys" --value-size "$value_size" --clients 4 --pipeline 100 --timeout 60s)
	[ "$(field errors "$out")" = 0 ] || { log "filling $1: $out"; exit 1; }
	out=$("$work/loadgen" fill --addr "$1" --keys $((keys / 2)) --value-size "$value_size" --clients 4 --pipeline 100 --timeout 60s)
	[ "$(field errors "$out")" = 0 ] || { log "filling $1 again: $out"; exit 1; }
}

redis_dir="$work/redis-data"
mkdir -p "$redis_dir"
redis_port=$(free_port)
# start_aof_redis: redis-server on $redis_port with its AOF in $redis_dir; waits until it
# answers PING (it answers -LOADING while it loads). Sets redis_pid and redis_wall_ms.
start_aof_redis() {
	local t0
	t0=$(now_ms)
	redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly yes --appendfsync everysec --daemonize no \
		--dir "$redis_dir" --logfile "$redis_dir/redis.log" &
	redis_pid=$!
	pids+=("$redis_pid")
	for _ in $(seq 1 6000); do
		[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
		sleep 0.02
	done
	[ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] || { log "redis-server did not serve in 120 s"; exit 1; }
	redis_wall_ms=$(($(now_ms) - t0))
}

grid_dir="$work/grid-data"
# start_disk_grid: the grid on $grid_dir; sets grid_pid, grid_http and grid_wall_ms.
start_disk_grid() {
	local t0
	t0=$(now_ms)
	start_grid 1 --data-dir "$grid_dir" --appendfsync everysec --timeout 300s
	grid_wall_ms=$(($(now_ms) - t0))
}

start_disk_grid
log "filling the grid"
fill "127.0.0.1:$grid_port"
start_aof_redis
log "filling redis-server"
fill "127.0.0.1:$redis_port"
redis_keys=$(redis-cli -p "$redis_port" dbsize)
[ "$redis_keys" = "$keys" ] || { log "redis-server holds $redis_keys keys, want $keys"; exit 1; }
# Both compact in the background; wait until neither is rewriting, so each restart loads
# what its own policy left.
for _ in $(seq 1 600); do
	[ "$(info_field "$redis_port" aof_rewrite_in_progress)" = 0 ] &&
		! curl -fsS "http://$grid_http/v1/status" | grep -q '"snapshotInProgress":true' && break
	sleep 0.1
done
stop_pid "$grid_pid"
stop_pid "$redis_pid"
grid_files=$(du -sb "$grid_dir/instances" | awk '{ print $1 }')
redis_files=$(du -sb "$redis_dir/appendonlydir" | awk '{ print $1 }')
names() { local f out=""; for f in "$1"/*; do out+="${f##*/} "; done; echo "$out"; }
log "on disk: grid $(names "$grid_dir/instances/p0-i0")($grid_files bytes); redis $(names "$redis_dir/appendonlydir")($redis_files bytes)"

printf '%-6s %14s %14s %16s %16s\n' round grid_load_ms redis_load_ms grid_to_serve_ms redis_to_serve_ms
g_sum=0 r_sum=0 gw_sum=0 rw_sum=0
for ((r = 1; r <= rounds; r++)); do
	start_disk_grid
	st=$(curl -fsS "http://$grid_http/v1/status")
	g_ms=$(field loadMillis "$st") g_keys=$(field loadedKeys "$st")
	[ "$g_keys" = "$keys" ] || { log "the grid loaded $g_keys keys, want $keys"; exit 1; }
	stop_pid "$grid_pid"
	start_aof_redis
	r_s=$(sed -n 's/.*DB loaded from append only file: \([0-9.]*\) seconds.*/\1/p' "$redis_dir/redis.log" | tail -1)
	r_keys=$(redis-cli -p "$redis_port" dbsize)
	[ "$r_keys" = "$keys" ] && [ -n "$r_s" ] || { log "redis-server loaded $r_keys keys (want $keys), load time '$r_s'"; exit 1; }
	r_ms=$(awk -v s="$r_s" 'BEGIN { printf "%.0f", s * 1000 }')
	[ "$r" -gt 1 ] || grep -E 'Loading|loaded|Done loading' "$redis_dir/redis.log" | tail -4 >&2
	stop_pid "$redis_pid"
	printf '%-6s %14s %14s %16s %16s\n' "$r" "$g_ms" "$r_ms" "$grid_wall_ms" "$redis_wall_ms"
	g_sum=$((g_sum + g_ms)) r_sum=$((r_sum + r_ms)) gw_sum=$((gw_sum + grid_wall_ms)) rw_sum=$((rw_sum + redis_wall_ms))
done
awk -v g="$g_sum" -v r="$r_sum" -v gw="$gw_sum" -v rw="$rw_sum" -v n="$rounds" -v gb="$gb" 'BEGIN {
	printf "load per GB of data: insight-grid %.2f s, redis-server %.2f s: ratio grid/redis %.2fx (lower is faster)\n", g / n / 1000 / gb, r / n / 1000 / gb, (r > 0 ? g / r : 0)
	printf "to serving per GB: insight-grid %.2f s (with local starting its manager), redis-server %.2f s\n", gw / n / 1000 / gb, rw / n / 1000 / gb
}'
log "$mb MB data set, $rounds rounds, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); redis $(redis-server --version | awk '{print $3}')"
