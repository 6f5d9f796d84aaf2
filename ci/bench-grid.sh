#!/usr/bin/env bash
# Grid benchmark (make bench): redis-benchmark against `insight-grid local --partitions 1`
# and against a redis-server started in the same run, SET and GET with 100-byte values and
# 50 clients, without and with -P 16, in interleaved rounds (grid, redis, grid, redis, ...)
# so machine noise hits both sides alike. Prints each round's throughput, p99 and max
# latency, then per test the mean throughput, the median p99 and the median max of the
# rounds and the grid/redis ratios. With each test it records the server's CPU time per
# request (user+system of redis-server, or of every data instance of the grid, from
# /proc/PID/stat around the test): unlike throughput, that figure hardly moves with the
# load other processes put on the machine, so it shows a change of the data path even on
# a busy machine.
#
# redis-benchmark --cluster refuses a cluster with a single master ("Invalid cluster: 1
# node(s)"), so the one-partition grid, whose only instance owns all 16384 slots and never
# redirects, is driven in plain mode; a second grid with 2 partitions is then driven with
# --cluster (MOVED-aware clients, slot routing) to show that path against the same anchor.
#
# Targets (one partition): throughput >= 1.0x redis, p99 <= 1.0x, max <= 2.0x.
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Installs nothing (ci/tools.sh does); stops only the processes it started.
#
# Environment: BENCH_REQUESTS (default 200000 per test), BENCH_CLIENTS (50),
# BENCH_GRID_ROUNDS (3), BENCH_GRID_CLUSTER (1: also the 2-partition grid; 0: not),
# BENCH_GRID_BIN (an insight-grid binary to use instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-200000}
clients=${BENCH_CLIENTS:-50}
rounds=${BENCH_GRID_ROUNDS:-3}
cluster=${BENCH_GRID_CLUSTER:-1}

log() { printf 'bench-grid: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-server redis-cli redis-benchmark go
unset GOMEMLIMIT

# data_pids: the pids of the data instances of the grid just started, from its summary.
data_pids() { awk '$1 ~ /^p[0-9]+-i[0-9]+$/ && $2 == "pid" { printf "%s ", $3 }' "$grid_out"; }

start_redis
start_grid 1
grid1_port=$grid_port grid1_pids=$(data_pids)
if [ "$cluster" = 1 ]; then
	start_grid 2
	grid2_port=$grid_port grid2_pids=$(data_pids)
fi

# cpu_ticks PID...: the processes' user+system CPU time so far, in clock ticks.
cpu_ticks() {
	local pid total=0
	for pid in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
	echo "$total"
}

# run_bench PORT PIPELINE PIDS [--cluster]: prints "TEST rps p99 max cpu" lines, cpu being
# the microseconds of CPU time the server processes PIDS spent per request. Only the CSV
# rows are read: with --cluster redis-benchmark first lists the masters it found.
run_bench() {
	local t t0 t1 hz
	hz=$(getconf CLK_TCK)
	for t in set get; do
		# shellcheck disable=SC2086 # $3 is a list of pids, $4 an optional flag
		t0=$(cpu_ticks $3)
		# shellcheck disable=SC2086
		redis-benchmark -h 127.0.0.1 -p "$1" -t "$t" -d 100 -c "$clients" -n "$requests" -P "$2" \
			-r 100000 --csv ${4:-} 2>/dev/null >"$work/out"
		# shellcheck disable=SC2086
		t1=$(cpu_ticks $3)
		awk -F, -v cpu="$(((t1 - t0) * 1000000 / hz))" -v n="$requests" \
			'/^"(SET|GET)",/ { gsub(/"/, ""); printf "%s %s %s %s %.2f\n", $1, $2, $7, $8, cpu / n }' "$work/out"
	done
}

results="$work/results"
: >"$results"
# round N LABEL PORT PIPELINE PIDS [--cluster]: the grid then redis, or redis then the grid
# in even rounds; appends "label|P|test|side|round rps p99 max cpu" lines and prints the rows,
# each with the 1-minute load average at the round's end (what other processes take of the
# cores: the ratios of a round are comparable only with rounds of a similar load).
round() {
	local n=$1 label=$2 port=$3 p=$4 side sides=(grid redis) out load
	[ $((n % 2)) = 1 ] || sides=(redis grid)
	for side in "${sides[@]}"; do
		if [ "$side" = grid ]; then out=$(run_bench "$port" "$p" "$5" "${6:-}"); else out=$(run_bench "$redis_port" "$p" "$redis_pid"); fi
		[ "$(wc -l <<<"$out")" = 2 ] || { log "redis-benchmark against $side ($label, -P $p) did not print both tests"; exit 1; }
		awk -v k="$label|$p" -v s="$side" -v n="$n" '{ print k "|" $1 "|" s "|" n, $2, $3, $4, $5 }' <<<"$out" >>"$results"
	done
	load=$(cut -d' ' -f1 /proc/loadavg)
	for t in SET GET; do
		awk -v k="$label|$p|$t|" -v n="$n" -v label="$label" -v p="$p" -v t="$t" -v load="$load" '
			index($1, k) == 1 { split($1, f, "|"); if (f[5] != n) next
				if (f[4] == "redis") { rr = $2; rp = $3; rm = $4; rc = $5 } else { gr = $2; gp = $3; gm = $4; gc = $5 } }
			END { printf "%-22s %-4s %-3s %-5s %11.0f %11.0f %6.2f %9.3f %9.3f %9.3f %9.3f %8.2f %8.2f %5s\n",
				label, t, p, n, rr, gr, gr / rr, rp, gp, rm, gm, rc, gc, load }' "$results"
	done
}

printf '%-22s %-4s %-3s %-5s %11s %11s %6s %9s %9s %9s %9s %8s %8s %5s\n' grid test P round redis_rps grid_rps ratio redis_p99 grid_p99 redis_max grid_max redis_us grid_us load
for n in $(seq 1 "$rounds"); do
	round "$n" 1-partition "$grid1_port" 1 "$grid1_pids"
	round "$n" 1-partition "$grid1_port" 16 "$grid1_pids"
	if [ "$cluster" = 1 ]; then
		round "$n" 2-partitions-cluster "$grid2_port" 1 "$grid2_pids" --cluster
		round "$n" 2-partitions-cluster "$grid2_port" 16 "$grid2_pids" --cluster
	fi
done

# The summary per test: mean throughput, median p99, median max and median CPU time per
# request over the rounds.
echo
printf '%-22s %-4s %-3s %11s %11s %6s %9s %9s %6s %9s %9s %6s %8s %8s %6s\n' grid test P redis_rps grid_rps ratio redis_p99 grid_p99 ratio redis_max grid_max ratio redis_us grid_us ratio
summary() { # label pipeline test
	awk -v k="$1|$2|$3|" -v label="$1" -v p="$2" -v t="$3" '
		function median(a, n,   i, j, x) {
			for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		index($1, k) == 1 { split($1, f, "|")
			if (f[4] == "redis") { rs += $2; nr++; rp[nr] = $3; rm[nr] = $4; rc[nr] = $5 } else { gs += $2; ng++; gp[ng] = $3; gm[ng] = $4; gc[ng] = $5 } }
		END { r = rs / nr; g = gs / ng; r99 = median(rp, nr); g99 = median(gp, ng); rx = median(rm, nr); gx = median(gm, ng)
			ru = median(rc, nr); gu = median(gc, ng)
			printf "%-22s %-4s %-3s %11.0f %11.0f %6.2f %9.3f %9.3f %6.2f %9.3f %9.3f %6.2f %8.2f %8.2f %6.2f\n",
				label, t, p, r, g, g / r, r99, g99, g99 / r99, rx, gx, gx / rx, ru, gu, (ru > 0 ? gu / ru : 0) }' "$results"
}
for p in 1 16; do for t in SET GET; do summary 1-partition "$p" "$t"; done; done
if [ "$cluster" = 1 ]; then
	for p in 1 16; do for t in SET GET; do summary 2-partitions-cluster "$p" "$t"; done; done
fi
echo "latencies in ms, CPU time per request (us) of the server processes; targets for 1 partition: throughput ratio >= 1.0, p99 ratio <= 1.0, max ratio <= 2.0"
log "$rounds rounds, $requests requests per test, $clients clients, 100-byte values, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); redis $(redis-server --version | awk '{print $3}')"
