#!/usr/bin/env bash
# Data-type benchmark (make bench): lists, sets, sorted sets, hashes and streams of
# `insight-grid local --partitions 1` (its one data instance owns every slot and never
# redirects, so it is driven in plain mode, as ci/bench-grid.sh drives it) against a
# redis-server started in the same run and driven by the same clients. Three parts, each
# printed as grid/redis ratios:
#
# 1. redis-benchmark -c 50 -d 100 -r 100000 --csv, unpipelined and with -P 16, one test
#    per run, in redis-benchmark's own order so the pops find what the pushes left: its tests
#    lpush rpush lpop rpop sadd spop zadd zpopmin lrange_100 hset (7.0's zadd with -r already
#    adds random members at random scores), and in its custom-command form what it lacks:
#    ZRANGE myzset 0 99 WITHSCORES, ZSCORE, HGET and XADD. Both servers are flushed before
#    each pipeline depth; each test runs against the grid then redis (redis first in even
#    rounds) so machine noise hits both alike. Throughput, p99 and the server's CPU time per
#    request (user+system from /proc/PID/stat around the run; lrange_100's includes the LPUSH
#    phase redis-benchmark runs before it, per request of both phases). redis-benchmark 7.0
#    stops at the first error reply: that fails the run.
# 2. `loadgen stream`: BENCH_TYPES_PRODUCERS connections sending XADD (100-byte value),
#    BENCH_TYPES_CONSUMERS sending XREADGROUP COUNT 10 + XACK on one group, for
#    BENCH_TYPES_STREAM_SECONDS against each server: entries/s produced and consumed, XADD
#    p99, CPU per entry produced.
# 3. Memory per element: a fresh server each time, VmRSS (/proc/PID/status) and INFO's
#    used_memory before and after `loadgen fill` builds one sorted set of
#    BENCH_TYPES_ELEMENTS members ("m:<i>", score i) or one stream of as many entries
#    (XADD * f1 <i> f2 <i mod 1000>), pipelined (4 connections, 100 commands a batch);
#    bytes per element = delta / elements, after BENCH_TYPES_SETTLE seconds. For the grid
#    also the growth of its data memory alone (INFO used_memory_data).
#
# Targets: throughput >= 1.0x redis, p99 <= 1.0x, bytes per element <= 1.0x. Not a timed
# test: the numbers are for reading; the exit code says only that the run worked (an error
# reply during a test, a count that does not match, a step cut off by the time budget).
# Every step runs under `timeout` with what is left of BENCH_TYPES_BUDGET seconds (default
# 360, counted from the start, the build included). Stops only the processes it started.
#
# Environment: BENCH_TYPES_REQUESTS (per unpipelined test, default 60000; x4 with -P 16;
# /5 for the 100-element range reads), BENCH_CLIENTS (50), BENCH_TYPES_ROUNDS (1),
# BENCH_TYPES_STREAM_SECONDS (10), BENCH_TYPES_PRODUCERS (8), BENCH_TYPES_CONSUMERS (4),
# BENCH_TYPES_ELEMENTS (1000000), BENCH_TYPES_SETTLE (2), BENCH_TYPES_BUDGET (360),
# BENCH_TYPES_PARTS ("throughput stream memory": the parts to run), BENCH_GRID_BIN,
# BENCH_TYPES_PROFILE (a directory: record every grid run of parts 1 and 2 with
# `perf record -g` into DIR/<P>-<test>.data and DIR/<P>-<test>.txt, its top functions; perf
# slows the grid, so the ratios of such a run are not comparable with others).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_TYPES_REQUESTS:-60000}
clients=${BENCH_CLIENTS:-50}
rounds=${BENCH_TYPES_ROUNDS:-1}
stream_secs=${BENCH_TYPES_STREAM_SECONDS:-10}
producers=${BENCH_TYPES_PRODUCERS:-8}
consumers=${BENCH_TYPES_CONSUMERS:-4}
elements=${BENCH_TYPES_ELEMENTS:-1000000}
settle=${BENCH_TYPES_SETTLE:-2}
budget=${BENCH_TYPES_BUDGET:-360}
parts=${BENCH_TYPES_PARTS:-throughput stream memory}
profile_dir=${BENCH_TYPES_PROFILE:-}

log() { printf 'bench-types: %s\n' "$*" >&2; }

# bounded WHAT CMD...: runs CMD under what is left of the time budget; being cut off by it
# is an error of the run.
bounded() {
	local what=$1 left=$((budget - SECONDS)) rc=0
	shift
	if [ "$left" -le 0 ]; then
		log "the ${budget}s budget (BENCH_TYPES_BUDGET) was spent before $what"
		exit 1
	fi
	timeout "$left" "$@" || rc=$?
	if [ "$rc" = 124 ]; then
		log "$what: cut off by the ${budget}s budget (BENCH_TYPES_BUDGET)"
		exit 1
	fi
	return "$rc"
}

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-server redis-cli redis-benchmark go timeout
unset GOMEMLIMIT # no maxmemory: every element is stored (the data instance inherits local's environment)
log "built in ${SECONDS}s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# data_pids: the pids of the data instances of the grid just started, from its summary.
data_pids() { awk '$1 ~ /^p[0-9]+-i[0-9]+$/ && $2 == "pid" { printf "%s ", $3 }' "$grid_out"; }

# cpu_ticks PID...: the processes' user+system CPU time so far, in clock ticks.
cpu_ticks() {
	local pid total=0
	for pid in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
	echo "$total"
}
hz=$(getconf CLK_TCK)

if [ -n "$profile_dir" ]; then
	command -v perf >/dev/null || { log "BENCH_TYPES_PROFILE needs perf"; exit 1; }
	mkdir -p "$profile_dir"
fi
# profiled NAME PIDS CMD...: runs CMD; with BENCH_TYPES_PROFILE and NAME not empty, under
# `perf record` of PIDS (a space-separated list), whose top functions go to
# $profile_dir/NAME.txt. perf ends by itself when the processes it records exit.
profiled() {
	local name=$1 perf_pid rc=0 targets
	read -ra targets <<<"$2"
	shift 2
	if [ -z "$profile_dir" ] || [ -z "$name" ]; then
		"$@"
		return
	fi
	perf record -q -F 499 -g -p "$(IFS=,; echo "${targets[*]}")" -o "$profile_dir/$name.data" >/dev/null 2>&1 &
	perf_pid=$!
	"$@" || rc=$?
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	perf report -i "$profile_dir/$name.data" --no-children --percent-limit 1 --stdio -g none 2>/dev/null |
		grep -v '^$' >"$profile_dir/$name.txt" || true
	return "$rc"
}

# median_awk: an awk function median(a, n) for the summaries.
median_awk='function median(a, n,   i, j, x) {
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'

# ---- 1. redis-benchmark per data type -------------------------------------------------------

v100=$(printf 'v%.0s' $(seq 1 100))
# The tests in the order they run: NAME|DIVISOR|CUSTOM COMMAND (none: redis-benchmark -t NAME).
# DIVISOR cuts the requests of the 100-element reads, which move 100 times the bytes.
tests=(
	"lpush|1|" "rpush|1|" "lpop|1|" "rpop|1|"
	"sadd|1|" "spop|1|"
	"zadd|1|" "zrange_100|5|ZRANGE myzset 0 99 WITHSCORES" "zscore|1|ZSCORE myzset element:__rand_int__" "zpopmin|1|"
	"lrange_100|5|"
	"hset|1|" "hget|1|HGET myhash element:__rand_int__"
	"xadd|1|XADD mystream * f $v100"
)

# run_test SIDE PORT PIPELINE PIDS TEST: one redis-benchmark run; prints "rps p99 cpu_us".
run_test() {
	local side=$1 port=$2 p=$3 targets=$4 name div cmd n t0 t1 out phases=1 prof="" rc=0 words
	IFS='|' read -r name div cmd <<<"$5"
	[ "$side" != grid ] || prof=$p-$name
	n=$((requests * (p > 1 ? 4 : 1) / div))
	local -a args=(-h 127.0.0.1 -p "$port" -c "$clients" -n "$n" -P "$p" -d 100 -r 100000 --csv)
	if [ -z "$cmd" ]; then args+=(-t "$name"); else read -ra words <<<"$cmd" && args+=("${words[@]}"); fi
	[ "$name" != lrange_100 ] || phases=2 # redis-benchmark first runs n LPUSHes for it
	# shellcheck disable=SC2086 # $targets is a list
	t0=$(cpu_ticks $targets)
	out=$(profiled "$prof" "$targets" bounded "redis-benchmark $name -P $p against $side" redis-benchmark "${args[@]}" 2>&1) || rc=$?
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $targets)
	# redis-benchmark 7.0 stops at the first error reply and prints it.
	if grep -q 'Error from server' <<<"$out"; then
		log "$name (-P $p) against $side: $(grep -m1 'Error from server' <<<"$out")"
		exit 1
	fi
	[ "$rc" = 0 ] || { log "redis-benchmark $name (-P $p) against $side failed ($rc): $(tail -n 3 <<<"$out")"; exit 1; }
	# The last CSV row is the test's (lrange_100's LPUSH phase comes before it).
	awk -F, -v cpu="$(((t1 - t0) * 1000000 / hz))" -v n="$((n * phases))" \
		'/^"/ && !/^"test"/ { gsub(/"/, ""); row = $2 " " $7 } END { if (row == "") exit 1; printf "%s %.2f\n", row, cpu / n }' <<<"$out" ||
		{ log "$name (-P $p) against $side: no result in: $out"; exit 1; }
}

tput_results="$work/throughput"
: >"$tput_results"
run_throughput() {
	local n p t name side sides r g
	start_redis
	start_grid 1
	grid_pids=$(data_pids)
	printf '%-5s %-3s %-10s %11s %11s %6s %9s %9s %8s %8s\n' round P test redis_rps grid_rps ratio redis_p99 grid_p99 redis_us grid_us
	for n in $(seq 1 "$rounds"); do
		sides=(grid redis)
		[ $((n % 2)) = 1 ] || sides=(redis grid)
		for p in 1 16; do
			redis-cli -p "$redis_port" flushall >/dev/null
			redis-cli -p "$grid_port" flushall >/dev/null
			for t in "${tests[@]}"; do
				name=${t%%|*}
				for side in "${sides[@]}"; do
					if [ "$side" = grid ]; then g=$(run_test grid "$grid_port" "$p" "$grid_pids" "$t"); else r=$(run_test redis "$redis_port" "$p" "$redis_pid" "$t"); fi
				done
				echo "$p|$name|$n $r $g" >>"$tput_results"
				awk -v n="$n" -v p="$p" -v t="$name" -v r="$r" -v g="$g" 'BEGIN { split(r, a, " "); split(g, b, " ")
					printf "%-5s %-3s %-10s %11.0f %11.0f %6.2f %9.3f %9.3f %8.2f %8.2f\n", n, p, t, a[1], b[1], b[1] / a[1], a[2], b[2], a[3], b[3] }'
			done
		done
	done
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
}

# ---- 2. stream producers and consumers ------------------------------------------------------

stream_results="$work/stream"
: >"$stream_results"
# run_stream SIDE PORT PIDS: one loadgen stream run; appends "side produced/s consumed/s
# xadd_p99 read_ack_p99 cpu_us_per_entry backlog".
run_stream() {
	local t0 t1 out
	# shellcheck disable=SC2086
	t0=$(cpu_ticks $3)
	local prof=""
	[ "$1" != grid ] || prof=stream
	out=$(profiled "$prof" "$3" bounded "loadgen stream against $1" "$work/loadgen" stream --addr "127.0.0.1:$2" --key bench:stream \
		--producers "$producers" --consumers "$consumers" --count 10 --value-size 100 --duration "${stream_secs}s")
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $3)
	if [ "$(field errors "$out")" != 0 ] || [ "$(field acked "$out")" != "$(field consumed "$out")" ] ||
		[ "$(field xlen "$out")" != "$(field produced "$out")" ] || [ "$(field pending "$out")" != 0 ]; then
		log "loadgen stream against $1: errors, or counts that disagree: $out"
		exit 1
	fi
	log "stream $1: $out"
	awk -v side="$1" -v out="$out" -v cpu="$(((t1 - t0) * 1000000 / hz))" -v ps="$(field produced_per_sec "$out")" \
		-v cs="$(field consumed_per_sec "$out")" -v p99="$(field xadd_p99_ms "$out")" -v ra="$(field read_ack_p99_ms "$out")" \
		-v n="$(field produced "$out")" -v backlog="$(field backlog "$out")" \
		'BEGIN { printf "%s %s %s %s %s %.2f %s\n", side, ps, cs, p99, ra, cpu / n, backlog }' >>"$stream_results"
}

run_streams() {
	start_redis
	start_grid 1
	run_stream grid "$grid_port" "$(data_pids)"
	run_stream redis "$redis_port" "$redis_pid"
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
}

# ---- 3. memory per element -------------------------------------------------------------------

mem_results="$work/memory"
: >"$mem_results"
# measure_memory SIDE TYPE: builds one TYPE of $elements elements in a fresh server; appends
# "type side rss_delta used_delta data_delta seconds" (data_delta: the grid's
# used_memory_data growth, 0 for redis).
measure_memory() {
	local side=$1 kind=$2 port pid rss0 used0 data0 rss1 used1 data1 out len
	if [ "$side" = redis ]; then
		start_redis
		port=$redis_port pid=$redis_pid
	else
		start_grid 1
		port=$grid_port pid=$data_pid
	fi
	rss0=$(vm_rss "$pid") used0=$(info_field "$port" used_memory) data0=$(info_field "$port" used_memory_data)
	out=$(bounded "loadgen fill --type $kind against $side" "$work/loadgen" fill --addr "127.0.0.1:$port" \
		--type "$kind" --keys "$elements" --prefix "bench:$kind" --clients 4 --pipeline 100)
	[ "$(field errors "$out")" = 0 ] || { log "$side: errors while building the $kind: $(sfield first_error "$out")"; exit 1; }
	sleep "$settle"
	rss1=$(vm_rss "$pid") used1=$(info_field "$port" used_memory) data1=$(info_field "$port" used_memory_data)
	if [ "$kind" = zset ]; then len=$(redis-cli -p "$port" zcard "bench:$kind"); else len=$(redis-cli -p "$port" xlen "bench:$kind"); fi
	[ "$len" = "$elements" ] || { log "$side: the $kind holds $len elements after writing $elements"; exit 1; }
	echo "$kind $side $((rss1 - rss0)) $((used1 - used0)) $((${data1:-0} - ${data0:-0})) $(field seconds "$out")" >>"$mem_results"
	if [ "$side" = redis ]; then stop_pid "$redis_pid"; else stop_pid "$grid_pid"; fi
}

run_memory() {
	local kind
	for kind in zset stream; do
		measure_memory redis "$kind"
		measure_memory grid "$kind"
	done
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for part in $parts; do
	echo "== $part: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	case $part in
	throughput) run_throughput ;;
	stream) run_streams ;;
	memory) run_memory ;;
	*) log "BENCH_TYPES_PARTS: unknown part $part (throughput, stream, memory)"; exit 1 ;;
	esac
done

# ---- summary ---------------------------------------------------------------------------------

echo
echo "== summary (ratio = grid/redis; targets: throughput >= 1.0, p99 <= 1.0, bytes per element <= 1.0)"
echo "load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $(redis-server --version | awk '{print $3}')"
if [ -s "$tput_results" ]; then
	printf '%-10s %-3s %11s %11s %6s %9s %9s %6s %8s %8s %6s\n' test P redis_rps grid_rps ratio redis_p99 grid_p99 ratio redis_us grid_us ratio
	for p in 1 16; do
		for t in "${tests[@]}"; do
			awk -v k="$p|${t%%|*}|" -v p="$p" -v t="${t%%|*}" "$median_awk"'
				index($1, k) == 1 { n++; rs += $2; gs += $5; rp[n] = $3; gp[n] = $6; rc[n] = $4; gc[n] = $7 }
				END { r = rs / n; g = gs / n; r99 = median(rp, n); g99 = median(gp, n); ru = median(rc, n); gu = median(gc, n)
					printf "%-10s %-3s %11.0f %11.0f %6.2f %9.3f %9.3f %6.2f %8.2f %8.2f %6.2f\n",
						t, p, r, g, g / r, r99, g99, (r99 > 0 ? g99 / r99 : 0), ru, gu, (ru > 0 ? gu / ru : 0) }' "$tput_results"
		done
	done
	echo "redis-benchmark -c $clients -d 100 -r 100000, $requests requests per unpipelined test, $((4 * requests)) with -P 16 (the 100-element range reads: a fifth);"
	echo "rps: mean over $rounds round(s); p99 (ms) and CPU time per request (us) of the server processes: median"
fi
if [ -s "$stream_results" ]; then
	echo
	printf '%-26s %11s %11s %6s\n' "stream ($producers producers, $consumers consumers, ${stream_secs}s)" redis grid ratio
	awk '{ for (i = 2; i <= NF; i++) v[$1, i] = $i }
		END { split("produced/s consumed/s xadd_p99_ms read+ack_p99_ms cpu_us/entry backlog", name, " ")
			for (i = 2; i <= 6; i++) printf "%-26s %11s %11s %6.2f\n", name[i - 1], v["redis", i], v["grid", i], (v["redis", i] > 0 ? v["grid", i] / v["redis", i] : 0)
			printf "%-26s %11s %11s %6s\n", name[6], v["redis", 7], v["grid", 7], "-" }' "$stream_results"
fi
if [ -s "$mem_results" ]; then
	echo
	printf '%-7s %9s %12s %11s %6s %13s %12s %6s %12s\n' type elements redis_rss/el grid_rss/el ratio redis_used/el grid_used/el ratio grid_data/el
	awk -v n="$elements" '{ rss[$1, $2] = $3 / n; used[$1, $2] = $4 / n; data[$1, $2] = $5 / n; kinds[$1] = 1 }
		END { split("zset stream", order, " ")
			for (i = 1; i <= 2; i++) { k = order[i]; if (!(k in kinds)) continue
				printf "%-7s %9d %12.1f %11.1f %6.2f %13.1f %12.1f %6.2f %12.1f\n", k, n, rss[k, "redis"], rss[k, "grid"],
					rss[k, "grid"] / rss[k, "redis"], used[k, "redis"], used[k, "grid"], used[k, "grid"] / used[k, "redis"], data[k, "grid"] } }' "$mem_results"
	echo "bytes per element: (after - before) / elements of VmRSS, of INFO used_memory, and of the grid's used_memory_data"
fi
log "done in ${SECONDS}s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); redis $(redis-server --version | awk '{print $3}')"
