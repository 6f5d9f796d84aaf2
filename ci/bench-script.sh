#!/usr/bin/env bash
# Scripting benchmark (make bench): EVALSHA of a small script on `insight-grid local
# --partitions 1` (its one data instance owns every slot and never redirects, so it is
# driven in plain mode) against a redis-server started in the same run and driven by the
# same redis-benchmark. The script reads and writes one key of 100000:
#
#     local n = redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 3600) return n
#
# SCRIPT LOAD'ed on both, then `redis-benchmark -c BENCH_CLIENTS -r 100000 EVALSHA <sha> 1
# key:__rand_int__`, unpipelined and with -P 16, each against the grid then redis (redis
# first in even rounds). Prints requests/s, p99 (ms) and the grid/redis ratios. Target:
# throughput >= 1.0x redis.
#
# Then a busy script's reach: on `insight-grid local --partitions 2`, the p99 of GET on
# partition 1 (redis-benchmark -c BENCH_CLIENTS, key "a", slot 15495) without a script,
# then while partition 0 runs `while true do end` past busy-reply-threshold (its clients
# get BUSY), then after SCRIPT KILL. Target: within 1.5x of the p99 without the script.
#
# Not a timed test: the exit code says only that the run worked
# (an error reply, a step cut off by the time budget). Every step runs under `timeout` with
# what is left of BENCH_SCRIPT_BUDGET seconds (default 240). Stops only the processes it
# started.
#
# Environment: BENCH_SCRIPT_REQUESTS (per unpipelined run, default 100000; x4 with -P 16),
# BENCH_CLIENTS (50), BENCH_SCRIPT_ROUNDS (1), BENCH_SCRIPT_BUDGET (240), BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_SCRIPT_REQUESTS:-100000}
clients=${BENCH_CLIENTS:-50}
rounds=${BENCH_SCRIPT_ROUNDS:-1}
budget=${BENCH_SCRIPT_BUDGET:-240}

log() { printf 'bench-script: %s\n' "$*" >&2; }

# bounded WHAT CMD...: runs CMD under what is left of the time budget; being cut off by it
# is an error of the run.
bounded() {
	local what=$1 left=$((budget - SECONDS)) rc=0
	shift
	if [ "$left" -le 0 ]; then
		log "the ${budget}s budget (BENCH_SCRIPT_BUDGET) was spent before $what"
		exit 1
	fi
	timeout "$left" "$@" || rc=$?
	if [ "$rc" = 124 ]; then
		log "$what: cut off by the ${budget}s budget (BENCH_SCRIPT_BUDGET)"
		exit 1
	fi
	return "$rc"
}

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-server redis-cli redis-benchmark go timeout
log "built in ${SECONDS}s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

body="local n = redis.call('incr', KEYS[1]) redis.call('expire', KEYS[1], 3600) return n"

# load PORT SIDE: SCRIPT LOADs the script; prints its SHA1.
load() {
	local sha
	sha=$(bounded "SCRIPT LOAD on $2" redis-cli -p "$1" script load "$body")
	[[ "$sha" =~ ^[0-9a-f]{40}$ ]] || { log "SCRIPT LOAD on $2 answered: $sha"; exit 1; }
	echo "$sha"
}

# run SIDE PORT PIPELINE SHA: one redis-benchmark run; prints "rps p99".
run() {
	local side=$1 port=$2 p=$3 sha=$4 n out rc=0
	n=$((requests * (p > 1 ? 4 : 1)))
	out=$(bounded "redis-benchmark EVALSHA -P $p against $side" redis-benchmark -h 127.0.0.1 -p "$port" \
		-c "$clients" -n "$n" -P "$p" -r 100000 --csv EVALSHA "$sha" 1 key:__rand_int__ 2>&1) || rc=$?
	if grep -q 'Error from server' <<<"$out"; then
		log "EVALSHA (-P $p) against $side: $(grep -m1 'Error from server' <<<"$out")"
		exit 1
	fi
	[ "$rc" = 0 ] || { log "redis-benchmark EVALSHA (-P $p) against $side failed ($rc): $(tail -n 3 <<<"$out")"; exit 1; }
	awk -F, '/^"/ && !/^"test"/ { gsub(/"/, ""); row = $2 " " $7 } END { if (row == "") exit 1; print row }' <<<"$out" ||
		{ log "EVALSHA (-P $p) against $side: no result in: $out"; exit 1; }
}

start_redis
start_grid 1
redis_sha=$(load "$redis_port" redis)
grid_sha=$(load "$grid_port" grid)
[ "$redis_sha" = "$grid_sha" ] || { log "SHA1s differ: redis $redis_sha, grid $grid_sha"; exit 1; }

printf '%-5s %-3s %11s %11s %6s %9s %9s\n' round P redis_rps grid_rps ratio redis_p99 grid_p99
for n in $(seq 1 "$rounds"); do
	sides=(grid redis)
	[ $((n % 2)) = 1 ] || sides=(redis grid)
	for p in 1 16; do
		for side in "${sides[@]}"; do
			if [ "$side" = grid ]; then g=$(run grid "$grid_port" "$p" "$grid_sha"); else r=$(run redis "$redis_port" "$p" "$redis_sha"); fi
		done
		awk -v n="$n" -v p="$p" -v r="$r" -v g="$g" 'BEGIN { split(r, a, " "); split(g, b, " ")
			printf "%-5s %-3s %11.0f %11.0f %6.2f %9.3f %9.3f\n", n, p, a[1], b[1], b[1] / a[1], a[2], b[2] }'
	done
done
# The scripts wrote: both servers hold counters.
for port in "$redis_port" "$grid_port"; do
	keys=$(redis-cli -p "$port" dbsize)
	[ "$keys" -gt 0 ] || { log "no keys on port $port after the runs"; exit 1; }
done
stop_pid "$grid_pid"
stop_pid "$redis_pid"

# ---- a busy script and another partition's latency ----------------------------------------

start_grid 2
p0_port=$grid_port p1_port=$((grid_port + 1))
reply=$(redis-cli -p "$p1_port" set a v)
[ "$reply" = OK ] || { log "SET a on partition 1 (port $p1_port) answered: $reply"; exit 1; }

# p99 WHAT: the p99 (ms) of GET a on partition 1.
p99() {
	local out
	out=$(bounded "redis-benchmark GET on partition 1 ($1)" redis-benchmark -h 127.0.0.1 -p "$p1_port" \
		-c "$clients" -n "$requests" --csv GET a 2>&1) || { log "redis-benchmark GET ($1) failed: $(tail -n 3 <<<"$out")"; exit 1; }
	if grep -q 'Error from server' <<<"$out"; then
		log "GET on partition 1 ($1): $(grep -m1 'Error from server' <<<"$out")"
		exit 1
	fi
	awk -F, '/^"/ && !/^"test"/ { gsub(/"/, ""); row = $7 } END { if (row == "") exit 1; print row }' <<<"$out"
}

before=$(p99 "no script")
redis-cli -p "$p0_port" config set busy-reply-threshold 100 >/dev/null
bounded "the busy script" redis-cli -p "$p0_port" eval "while true do end" 0 >/dev/null 2>&1 &
loop_pid=$!
pids+=("$loop_pid")
busy=
for _ in $(seq 1 100); do
	if redis-cli -p "$p0_port" ping 2>&1 | grep -q '^BUSY'; then busy=1 && break; fi
	sleep 0.05
done
[ -n "$busy" ] || { log "partition 0 never answered BUSY"; exit 1; }
during=$(p99 "partition 0 busy")
reply=$(redis-cli -p "$p0_port" script kill)
[ "$reply" = OK ] || { log "SCRIPT KILL answered: $reply"; exit 1; }
wait "$loop_pid" 2>/dev/null || true
[ "$(redis-cli -p "$p0_port" ping)" = PONG ] || { log "partition 0 does not serve after SCRIPT KILL"; exit 1; }
after=$(p99 "after SCRIPT KILL")
printf '\n%-28s %9s %9s %9s %6s\n' "GET p99 (ms) on partition 1" before busy after ratio
awk -v b="$before" -v d="$during" -v a="$after" 'BEGIN { printf "%-28s %9.3f %9.3f %9.3f %6.2f\n", "", b, d, a, d / b }'
stop_pid "$grid_pid"
