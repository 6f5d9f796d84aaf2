#!/usr/bin/env bash
# Transaction and pub/sub benchmark (make bench): MULTI/EXEC and pub/sub fan-out of
# `insight-grid local --partitions 1` (its one data instance owns every slot and never
# redirects, so it is driven in plain mode, as ci/bench-grid.sh drives it) against a
# redis-server started in the same run and driven by the same clients, as grid/redis
# ratios. Three parts:
#
# 1. tx: `loadgen tx`, BENCH_CLIENTS connections each looping on
#    MULTI; SET {T}:v <100 bytes>; INCR {T}:c; GET {T}:v; EXEC sent as one write (its own
#    hash tag T per connection), unpipelined and with BENCH_TX_PIPELINE transactions per
#    write, for BENCH_TX_SECONDS against each server: transactions/s, p50 and p99 of a
#    write's round trip, and the server's CPU time per transaction (user+system from
#    /proc/PID/stat around the run). Every reply is checked (+OK, +QUEUED, EXEC's
#    [OK, counter+1, the value]); an error or a wrong reply fails the run.
# 2. fanout: `loadgen fanout`, BENCH_TX_SUBSCRIBERS connections SUBSCRIBEd to one channel
#    and BENCH_TX_PUBLISHERS connections sending PUBLISH of 100-byte messages one at a time
#    (as fast as the replies come) for BENCH_TX_FANOUT_SECONDS: messages delivered per
#    second summed over the subscribers, messages published per second, delivery latency
#    p99 (the send time is in the message), the server's CPU time per message delivered,
#    and what any subscriber missed of what was published while it was subscribed (lost;
#    redis drops nothing at these rates).
# 3. fanout3: the same against `insight-grid local --partitions 3`, the subscribers spread
#    over its three data instances in turn and the publishers on the first, so two thirds
#    of the deliveries take the cluster-wide forwarding path (PUBLISHLOCAL to the peers);
#    CPU is summed over the three instances. Its ratio against a single redis-server
#    (measured again in the same round) compares two different shapes.
#
# Each measurement runs against the grid then redis (redis first in even rounds,
# BENCH_TX_ROUNDS) so machine noise hits both alike, and prints the load average next to
# its figures; the summary gives medians over the rounds. Targets: transactions/s >= 1.0x
# redis, fan-out messages delivered/s >= 1.0x redis (and nothing lost). Not a timed test:
# the numbers are for reading; the exit code says only that the run worked (an error reply,
# a wrong transaction reply, a failed PUBLISH, a step cut off by the time budget). Every
# step runs under `timeout` with what is left of BENCH_TX_BUDGET seconds (counted from the
# start, the build included). Stops only the processes it started.
#
# Environment: BENCH_CLIENTS (50), BENCH_TX_SECONDS (10), BENCH_TX_PIPELINE (16),
# BENCH_TX_SUBSCRIBERS (50), BENCH_TX_PUBLISHERS (2), BENCH_TX_FANOUT_SECONDS (10),
# BENCH_TX_PATTERN (empty; a pattern matching the channel "bench:fanout", e.g. "bench:*":
# every subscriber also PSUBSCRIBEs to it and gets each message twice), BENCH_TX_ROUNDS (1),
# BENCH_TX_PARTS ("tx fanout fanout3"), BENCH_TX_BUDGET (120 + 150 per round),
# BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

clients=${BENCH_CLIENTS:-50}
tx_secs=${BENCH_TX_SECONDS:-10}
pipeline=${BENCH_TX_PIPELINE:-16}
subscribers=${BENCH_TX_SUBSCRIBERS:-50}
publishers=${BENCH_TX_PUBLISHERS:-2}
fanout_secs=${BENCH_TX_FANOUT_SECONDS:-10}
pattern=${BENCH_TX_PATTERN:-}
rounds=${BENCH_TX_ROUNDS:-1}
parts=${BENCH_TX_PARTS:-tx fanout fanout3}
budget=${BENCH_TX_BUDGET:-$((120 + 150 * rounds))}

log() { printf 'bench-tx: %s\n' "$*" >&2; }

budget_var=BENCH_TX_BUDGET
# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-server redis-cli go timeout
unset GOMEMLIMIT # no maxmemory (the data instances inherit local's environment)
log "built in ${SECONDS}s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# data_pids: the pids of the data instances of the grid just started, from its summary.
data_pids() { awk '$1 ~ /^p[0-9]+-i[0-9]+$/ && $2 == "pid" { printf "%s ", $3 }' "$grid_out"; }
# data_addrs: their RESP addresses, comma-separated.
data_addrs() { awk '$1 ~ /^p[0-9]+-i[0-9]+$/ && $4 == "resp" { printf "%s%s", sep, $5; sep = "," }' "$grid_out"; }

# median_awk: an awk function median(a, n) for the summaries.
median_awk='function median(a, n,   i, j, x) {
	for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'

results="$work/results"
: >"$results"

# ---- 1. MULTI/EXEC ---------------------------------------------------------------------------

# run_tx SIDE PORT PIDS P: one loadgen tx run; prints "tx/s p50 p99 cpu_us/tx load".
run_tx() {
	local t0 t1 out load
	load=$(load1)
	# shellcheck disable=SC2086 # $3 is a list
	t0=$(cpu_ticks $3)
	out=$(bounded "loadgen tx -P $4 against $1" "$work/loadgen" tx --addr "127.0.0.1:$2" --clients "$clients" \
		--pipeline "$4" --value-size 100 --prefix bench:tx --duration "${tx_secs}s")
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $3)
	if [ "$(field errors "$out")" != 0 ] || [ "$(field transactions "$out")" = 0 ]; then
		log "loadgen tx -P $4 against $1: errors or no transaction: $(sfield first_error "$out") ($out)"
		exit 1
	fi
	awk -v cpu="$(((t1 - t0) * 1000000 / hz))" -v n="$(field transactions "$out")" -v r="$(field tx_per_sec "$out")" \
		-v p50="$(field p50_ms "$out")" -v p99="$(field p99_ms "$out")" -v ld="$load" \
		'BEGIN { printf "%.0f %s %s %.2f %s\n", r, p50, p99, cpu / n, ld }'
}

run_txs() {
	local n p side sides r g grid_pids
	start_redis
	start_grid 1
	grid_pids=$(data_pids)
	printf '%-5s %-3s %10s %10s %6s %9s %9s %9s %9s %8s %8s %6s %5s %5s\n' round P redis_tx/s grid_tx/s ratio \
		redis_p50 grid_p50 redis_p99 grid_p99 redis_us grid_us ratio load_r load_g
	for n in $(seq 1 "$rounds"); do
		sides=(grid redis)
		[ $((n % 2)) = 1 ] || sides=(redis grid)
		for p in 1 "$pipeline"; do
			for side in "${sides[@]}"; do
				if [ "$side" = grid ]; then g=$(run_tx grid "$grid_port" "$grid_pids" "$p"); else r=$(run_tx redis "$redis_port" "$redis_pid" "$p"); fi
			done
			echo "tx|$p| $n $r $g" >>"$results"
			awk -v n="$n" -v p="$p" -v r="$r" -v g="$g" 'BEGIN { split(r, a, " "); split(g, b, " ")
				printf "%-5s %-3s %10.0f %10.0f %6.2f %9.3f %9.3f %9.3f %9.3f %8.2f %8.2f %6.2f %5s %5s\n",
					n, p, a[1], b[1], b[1] / a[1], a[2], b[2], a[3], b[3], a[4], b[4], b[4] / a[4], a[5], b[5] }'
		done
	done
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
}

# ---- 2. and 3. pub/sub fan-out ----------------------------------------------------------------

# run_fanout SIDE PUB_ADDR SUB_ADDRS PIDS: one loadgen fanout run; prints "delivered/s
# published/s delivery_p99 cpu_us/delivered lost load".
run_fanout() {
	local t0 t1 out load
	local -a extra=()
	[ -z "$pattern" ] || extra=(--pattern "$pattern")
	load=$(load1)
	# shellcheck disable=SC2086 # $4 is a list
	t0=$(cpu_ticks $4)
	out=$(bounded "loadgen fanout against $1" "$work/loadgen" fanout --addr "$2" --sub-addr "$3" --channel bench:fanout \
		--subscribers "$subscribers" --publishers "$publishers" --value-size 100 --duration "${fanout_secs}s" \
		--drain 5s "${extra[@]}")
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $4)
	if [ "$(field publish_errors "$out")" != 0 ] || [ "$(field published "$out")" = 0 ]; then
		log "loadgen fanout against $1: failed PUBLISHes or none: $(sfield first_error "$out") ($out)"
		exit 1
	fi
	if [ "$(field lost "$out")" != 0 ] || [ "$(field disorder "$out")" != 0 ] || [ "$(field disconnected "$out")" != 0 ]; then
		log "fanout against $1: $(field lost "$out") messages lost, $(field disorder "$out") out of order, $(field disconnected "$out") subscribers disconnected: $(sfield first_error "$out")"
	fi
	log "fanout $1: $out"
	awk -v cpu="$(((t1 - t0) * 1000000 / hz))" -v n="$(field delivered "$out")" -v d="$(field delivered_per_sec "$out")" \
		-v p="$(field published_per_sec "$out")" -v p99="$(field delivery_p99_ms "$out")" -v lost="$(field lost "$out")" -v ld="$load" \
		'BEGIN { printf "%.0f %.0f %s %.3f %s %s\n", d, p, p99, (n > 0 ? cpu / n : 0), lost, ld }'
}

# run_fanouts PART PARTITIONS: the fan-out against a grid of PARTITIONS (subscribers spread
# over its data instances, publishers on the first) and against redis, every round.
run_fanouts() {
	local part=$1 partitions=$2 n side sides r g grid_pids subs
	start_redis
	start_grid "$partitions"
	grid_pids=$(data_pids)
	subs=$(data_addrs)
	printf '%-8s %-5s %11s %11s %6s %9s %9s %9s %9s %8s %8s %6s %6s %6s %5s %5s\n' part round redis_msg/s grid_msg/s ratio \
		redis_pub/s grid_pub/s redis_p99 grid_p99 redis_us grid_us ratio r_lost g_lost load_r load_g
	for n in $(seq 1 "$rounds"); do
		sides=(grid redis)
		[ $((n % 2)) = 1 ] || sides=(redis grid)
		for side in "${sides[@]}"; do
			if [ "$side" = grid ]; then
				g=$(run_fanout "grid ($partitions partitions)" "127.0.0.1:$grid_port" "$subs" "$grid_pids")
			else
				r=$(run_fanout redis "127.0.0.1:$redis_port" "127.0.0.1:$redis_port" "$redis_pid")
			fi
		done
		echo "$part|| $n $r $g" >>"$results"
		awk -v part="$part" -v n="$n" -v r="$r" -v g="$g" 'BEGIN { split(r, a, " "); split(g, b, " ")
			printf "%-8s %-5s %11.0f %11.0f %6.2f %9.0f %9.0f %9.3f %9.3f %8.3f %8.3f %6.2f %6s %6s %5s %5s\n",
				part, n, a[1], b[1], b[1] / a[1], a[2], b[2], a[3], b[3], a[4], b[4], (a[4] > 0 ? b[4] / a[4] : 0), a[5], b[5], a[6], b[6] }'
	done
	stop_pid "$grid_pid"
	stop_pid "$redis_pid"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for part in $parts; do
	echo "== $part: load average $(cut -d' ' -f1-3 /proc/loadavg)"
	case $part in
	tx) run_txs ;;
	fanout) run_fanouts fanout 1 ;;
	fanout3) run_fanouts fanout3 3 ;;
	*) log "BENCH_TX_PARTS: unknown part $part (tx, fanout, fanout3)"; exit 1 ;;
	esac
done

# ---- summary ---------------------------------------------------------------------------------

echo
echo "== summary (ratio = grid/redis, medians over $rounds round(s); targets: transactions/s >= 1.0, fan-out messages/s >= 1.0)"
echo "load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $(redis-server --version | awk '{print $3}')"
if grep -q '^tx|' "$results"; then
	printf '%-12s %10s %10s %6s %9s %9s %6s %8s %8s %6s\n' "MULTI/EXEC" redis_tx/s grid_tx/s ratio redis_p99 grid_p99 ratio redis_us grid_us ratio
	for p in 1 "$pipeline"; do
		awk -v k="tx|$p|" -v p="$p" "$median_awk"'
			$1 == k { n++; r[n] = $3; g[n] = $8; rp[n] = $5; gp[n] = $10; ru[n] = $6; gu[n] = $11 }
			END { if (!n) exit; a = median(r, n); b = median(g, n); c = median(rp, n); d = median(gp, n); e = median(ru, n); f = median(gu, n)
				printf "%-12s %10.0f %10.0f %6.2f %9.3f %9.3f %6.2f %8.2f %8.2f %6.2f\n", "-P " p, a, b, b / a, c, d, d / c, e, f, f / e }' "$results"
	done
	echo "loadgen tx: $clients connections, MULTI; SET; INCR; GET; EXEC per transaction, ${tx_secs}s per run; p99 (ms) of a write's round trip; CPU us per transaction"
fi
if grep -q '^fanout' "$results"; then
	printf '%-12s %11s %11s %6s %9s %9s %6s %8s %8s %6s %6s %6s\n' fan-out redis_msg/s grid_msg/s ratio redis_p99 grid_p99 ratio redis_us grid_us ratio r_lost g_lost
	for part in fanout fanout3; do
		awk -v k="$part||" -v part="$part" "$median_awk"'
			$1 == k { n++; r[n] = $3; g[n] = $9; rp[n] = $5; gp[n] = $11; ru[n] = $6; gu[n] = $12; rl += $7; gl += $13 }
			END { if (!n) exit; a = median(r, n); b = median(g, n); c = median(rp, n); d = median(gp, n); e = median(ru, n); f = median(gu, n)
				printf "%-12s %11.0f %11.0f %6.2f %9.3f %9.3f %6.2f %8.3f %8.3f %6.2f %6d %6d\n", part, a, b, b / a, c, d, d / c, e, f, (e > 0 ? f / e : 0), rl, gl }' "$results"
	done
	echo "loadgen fanout: $subscribers subscribers${pattern:+ (+ PSUBSCRIBE $pattern)}, $publishers publishers of 100-byte messages, ${fanout_secs}s per run;"
	echo "msg/s delivered summed over the subscribers; p99 (ms) of a delivery; CPU us per message delivered; lost: summed over the rounds;"
	echo "fanout3: subscribers spread over 3 grid instances, publishing on one, against a single redis-server (a different shape)"
fi
log "done in ${SECONDS}s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); redis $(redis-server --version | awk '{print $3}')"
