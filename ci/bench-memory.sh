#!/usr/bin/env bash
# Memory benchmark (make bench): resident memory per key of the grid
# (`insight-grid local --partitions 1`, no backup) against redis-server started in the same
# run, for the same keys and values: N keys of 100-byte values, of 1 KiB values, and small
# hashes (5 fields of 10-byte values). Every case starts a fresh server, reads its VmRSS
# (/proc/PID/status) before the load, writes exactly N keys named key:000000000000 upwards
# (`loadgen fill`: pipelined, deterministic, so both servers hold the same data), waits
# BENCH_MEMORY_SETTLE and reads VmRSS again; bytes per key = (RSS after - RSS before) /
# DBSIZE. For the grid it also prints INFO's used_memory (its own estimate) and how far RSS
# is from it. The servers run one at a time, so the machine holds one data set at once.
#
# Target: grid/redis <= 1.0 in every case. Not a timed test: the numbers are for
# reading and the exit code only says the run worked. Stops only the processes it started.
#
# Environment: BENCH_MEMORY_KEYS (key counts of 100-byte values, default "1000000 5000000"),
# BENCH_MEMORY_KB_KEYS (of 1 KiB values, default "1000000 5000000": 5M needs ~7.5 GB free and
# ~2 min), BENCH_MEMORY_HASH_KEYS (of hashes, default "1000000"; "" skips a kind),
# BENCH_MEMORY_HASH_FIELDS (5), BENCH_MEMORY_SETTLE (seconds, 2), BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

keys_100=${BENCH_MEMORY_KEYS-1000000 5000000}
keys_1k=${BENCH_MEMORY_KB_KEYS-1000000 5000000}
keys_hash=${BENCH_MEMORY_HASH_KEYS-1000000}
hash_fields=${BENCH_MEMORY_HASH_FIELDS:-5}
settle=${BENCH_MEMORY_SETTLE:-2}

log() { printf 'bench-memory: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-server redis-cli go
unset GOMEMLIMIT # no maxmemory: every key is stored (the data instance inherits local's environment)

# measure SIDE TYPE VALUE_SIZE KEYS: loads one fresh server; prints
# "rss_before rss_after dbsize used_memory load_seconds".
measure() {
	local side=$1 type=$2 size=$3 n=$4 port pid rss0 rss1 out
	if [ "$side" = redis ]; then
		start_redis
		port=$redis_port pid=$redis_pid
	else
		start_grid 1
		port=$grid_port pid=$data_pid
	fi
	rss0=$(vm_rss "$pid")
	out=$("$work/loadgen" fill --addr "127.0.0.1:$port" --keys "$n" --type "$type" --value-size "$size" \
		--fields "$hash_fields" --clients 4 --pipeline 100)
	[ "$(field errors "$out")" = 0 ] || log "$side: $(field errors "$out") errors while loading: $(sfield first_error "$out")"
	sleep "$settle"
	rss1=$(vm_rss "$pid")
	echo "$rss0 $rss1 $(redis-cli -p "$port" dbsize) $(info_field "$port" used_memory) $(field seconds "$out")"
	if [ "$side" = redis ]; then stop_pid "$redis_pid"; else stop_pid "$grid_pid"; fi
}

printf '%-20s %9s %11s %10s %6s %12s %11s %13s %13s\n' case keys redis_B/key grid_B/key ratio redis_used/k grid_used/k grid_rss-used grid_rss/used
ratios=""
# run_case LABEL TYPE VALUE_SIZE KEYS: redis then the grid, one table row.
run_case() {
	local r g ratio
	r=$(measure redis "$2" "$3" "$4")
	g=$(measure grid "$2" "$3" "$4")
	log "$1: rss_before rss_after dbsize used_memory load_s: redis $r; grid $g"
	for x in "$r" "$g"; do
		[ "$(cut -d' ' -f3 <<<"$x")" = "$4" ] || log "$1: DBSIZE $(cut -d' ' -f3 <<<"$x") after writing $4 keys"
	done
	ratio=$(awk -v r="$r" -v g="$g" 'BEGIN { split(r, a, " "); split(g, b, " "); printf "%.2f", ((b[2] - b[1]) / b[3]) / ((a[2] - a[1]) / a[3]) }')
	ratios="$ratios $ratio"
	awk -v label="$1" -v r="$r" -v g="$g" -v ratio="$ratio" 'BEGIN {
		split(r, a, " "); split(g, b, " ")
		printf "%-20s %9d %11.0f %10.0f %6s %12.0f %11.0f %11.0fMB %13.2f\n", label, b[3],
			(a[2] - a[1]) / a[3], (b[2] - b[1]) / b[3], ratio, a[4] / a[3], b[4] / b[3],
			(b[2] - b[1] - b[4]) / 1e6, (b[2] - b[1]) / b[4] }'
}

for n in $keys_100; do run_case "string 100 B" string 100 "$n"; done
for n in $keys_1k; do run_case "string 1 KiB" string 1024 "$n"; done
for n in $keys_hash; do run_case "hash ${hash_fields}x10 B" hash 10 "$n"; done
worst=$(tr ' ' '\n' <<<"$ratios" | sort -g | tail -n 1)
echo "B/key = (VmRSS after - VmRSS before) / DBSIZE; used/k = INFO used_memory / DBSIZE; grid_rss-used = the grid's RSS growth minus its used_memory"
echo "worst ratio grid/redis = $worst (target <= 1.0: $(verdict "$worst" '<=' 1.0))"
log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); redis $(redis-server --version | awk '{print $3}')"
