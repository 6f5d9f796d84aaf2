#!/usr/bin/env bash
# Rolling-restart benchmark (make bench): a local grid of 3 HA partitions
# (`insight-grid local --partitions 3 --ha`) under unique-key writes from ci/loadgen, every
# instance restarted one at a time in the order of insightctl's rolling change, per
# partition: SIGTERM of the backup (local restarts it) until it is the in-sync backup again,
# `insight-grid failover`, the same for the old primary, `insight-grid failback`. Never more
# than one instance is down: each restart waits for every partition to be healthy.
#
# Each partition gets its own loadgen whose keys all carry a hash tag of one of its slots,
# so each loadgen's longest interval without an acknowledged write (gap_ms) is that
# partition's write pause. The same load runs first for BENCH_ROLL_STEADY without a restart
# (the anchor), then through the roll. Prints the roll's duration, each partition's write
# pause, the p99 during the roll against the steady state (a ratio), lost writes (every
# acknowledged key read back) and the pause each switch-over reported.
#
# Targets: write pause <= 1 s per partition, 0 lost writes. Not a timed test: the
# numbers are for reading and the exit code only says the run worked. Installs nothing
# (ci/tools.sh does); builds insight-grid and loadgen into a temporary directory; signals
# only the processes it started (local and the data instances local started for it).
#
# Environment: BENCH_ROLL_PARTITIONS (default 3), BENCH_ROLL_CLIENTS (8 per partition),
# BENCH_ROLL_VALUE_SIZE (64), BENCH_ROLL_STEADY (5s), BENCH_ROLL_TIMEOUT (60, seconds an
# instance may take to be the in-sync backup again).
set -euo pipefail
cd "$(dirname "$0")/.."

partitions=${BENCH_ROLL_PARTITIONS:-3}
clients=${BENCH_ROLL_CLIENTS:-8}
value_size=${BENCH_ROLL_VALUE_SIZE:-64}
steady=${BENCH_ROLL_STEADY:-5s}
step_timeout=${BENCH_ROLL_TIMEOUT:-60}

log() { printf 'bench-rolling: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli curl go

start_ha_grid "$partitions"
seeds=$(resp_addr p0-i0)
for ((p = 1; p < partitions; p++)); do seeds="$seeds,$(resp_addr "p$p-i0")"; done
now_ms() { date +%s%3N; }

# healthy P: partition P has a primary and an in-sync backup, every instance ready.
healthy() {
	local j
	j=$(partition_json "$1" 2>/dev/null) || return 1
	[ -n "$(field primary "$j")" ] && [ -n "$(field backup "$j")" ] && [ "$(field inSync "$j")" = true ] &&
		! grep -q '"ready":false' <<<"$j"
}
all_healthy() {
	local p
	for ((p = 0; p < partitions; p++)); do healthy "$p" || return 1; done
}
# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 50 ms until it succeeds; exits
# naming WHAT after SECONDS.
wait_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(now_ms) + secs * 1000))
	until "$@"; do
		[ "$(now_ms)" -lt "$end" ] || { grep -v '"level":"INFO"' "$work/grid.log" | tail -5 >&2; log "$what: not after ${secs}s"; exit 1; }
		sleep 0.05
	done
}
wait_until 30 "every partition healthy" all_healthy

# A hash tag per partition: tag[P]'s slot is one of partition P's.
tags=()
for ((p = 0; p < partitions; p++)); do
	ranges=$(partition_json "$p" | grep -o '"slots":\[\[[0-9,]*\]\(,\[[0-9,]*\]\)*\]' | grep -o '[0-9]*,[0-9]*')
	for ((i = 0; ; i++)); do
		slot=$(redis-cli -h 127.0.0.1 -p "$((base + 10))" cluster keyslot "roll$i")
		if awk -F, -v s="$slot" '$1 <= s && s <= $2 { found = 1 } END { exit !found }' <<<"$ranges"; then
			tags[p]="roll$i"
			break
		fi
		[ "$i" -lt 1000 ] || { log "no hash tag found for partition $p (slots $ranges)"; exit 1; }
	done
done
log "grid of $partitions HA partitions, manager $api; hash tags ${tags[*]}; $clients clients per partition"

# load NAME DURATION: one loadgen per partition in the background, writing unique keys
# {tag}:... to $work/NAME-P.json and their acknowledged keys to $work/NAME-P.acked; sets lg_pids.
load() {
	local p
	lg_pids=()
	for ((p = 0; p < partitions; p++)); do
		"$work/loadgen" --cluster --addr "$seeds" --clients "$clients" --value-size "$value_size" \
			--keyspace unique --prefix "{${tags[p]}}" --track-gap --acked-file "$work/$1-$p.acked" \
			--duration "$2" >"$work/$1-$p.json" &
		lg_pids+=($!)
		pids+=($!)
	done
}
wait_load() {
	local pid
	for pid in "${lg_pids[@]}"; do wait "$pid" || { log "loadgen failed"; exit 1; }; done
}

# --- steady state: the anchor -------------------------------------------------------------
load steady "$steady"
wait_load

# --- the roll -----------------------------------------------------------------------------
# in_sync P ID OLDPID: instance ID runs as a new process (not OLDPID), is ready, and is the
# in-sync backup of partition P by its own status and by the manager's record.
in_sync() {
	local st j
	st=$(curl -fsS "http://$(http_addr "$2")/v1/status" 2>/dev/null) || return 1
	[ "$(field pid "$st")" != "$3" ] && [ "$(field ready "$st")" = true ] && [ "$(field role "$st")" = backup ] &&
		[ "$(field inSync "$st")" = true ] || return 1
	j=$(partition_json "$1" 2>/dev/null) || return 1
	[ "$(field backup "$j")" = "$2" ] && [ "$(field inSync "$j")" = true ]
}
# restart P ID: SIGTERM to instance ID, the backup of partition P, with every partition
# healthy; waits until local restarted it and it is P's in-sync backup again.
restart() {
	local p=$1 id=$2 pid t0
	wait_until 30 "every partition healthy before restarting $id" all_healthy
	[ "$(field backup "$(partition_json "$p")")" = "$id" ] || { log "$id is not the backup of partition $p"; exit 1; }
	pid=$(instance_pid "$id")
	[ -n "$pid" ] || { log "no pid for $id"; exit 1; }
	t0=$(now_ms)
	kill -TERM "$pid"
	wait_until "$step_timeout" "$id the in-sync backup of partition $p again" in_sync "$p" "$id" "$pid"
	steps="$steps$(printf '  p%d: SIGTERM %s (pid %s), the in-sync backup again after %d ms' "$p" "$id" "$pid" $(($(now_ms) - t0)))
"
}
# switch P OP: insight-grid failover|failback of partition P; records the reported pause.
switch() {
	local out pause
	out=$("$work/insight-grid" "$2" --manager "http://$api" --partition "$1" -o json) ||
		{ log "insight-grid $2 --partition $1 failed"; exit 1; }
	if [ "$(field unchanged "$out")" = true ]; then
		pause="none (the manager had failed back by itself)"
	else
		pause=$(awk -v us="$(field pauseMicros "$out")" 'BEGIN { printf "%.3f ms", us / 1000 }')
		pauses="$pauses p$1-$2=$pause"
	fi
	steps="$steps$(printf '  p%d: %s %s -> %s, epoch %s, reported write pause %s' "$1" "$2" "$(sfield from "$out")" "$(sfield to "$out")" "$(field epoch "$out")" "$pause")
"
}

load roll 10m # until the roll is done: SIGTERM ends a loadgen, which then prints its result
sleep 1        # the load flows before the first restart
steps="" pauses=""
roll_start=$(now_ms)
for ((p = 0; p < partitions; p++)); do
	j=$(partition_json "$p")
	primary=$(field primary "$j") backup=$(field backup "$j")
	restart "$p" "$backup"
	switch "$p" failover
	restart "$p" "$primary"
	switch "$p" failback
done
roll_ms=$(($(now_ms) - roll_start))
sleep 1 # the load goes on past the last failback
kill -TERM "${lg_pids[@]}"
wait_load
wait_until 30 "every partition healthy after the roll" all_healthy

# --- results ------------------------------------------------------------------------------
read -r checked lost verr <<<"$(verify_keys "$seeds" "$value_size" "$work"/steady-*.acked "$work"/roll-*.acked)"

printf '%-10s %12s %12s %12s %12s %12s\n' partition steady_ops roll_ops steady_p99ms roll_p99ms roll_gap_ms
worst_gap=0 worst_gap_p=0 worst_s=0 worst_r=0 errors=0 first_error=""
for ((p = 0; p < partitions; p++)); do
	s=$(cat "$work/steady-$p.json") r=$(cat "$work/roll-$p.json")
	printf '%-10s %12.0f %12.0f %12.3f %12.3f %12.3f\n' "$p" "$(field ops_per_sec "$s")" "$(field ops_per_sec "$r")" \
		"$(field p99_ms "$s")" "$(field p99_ms "$r")" "$(field gap_ms "$r")"
	read -r worst_gap worst_gap_p worst_s worst_r < <(awk -v g="$worst_gap" -v gp="$worst_gap_p" -v p="$p" \
		-v rg="$(field gap_ms "$r")" -v ws="$worst_s" -v wr="$worst_r" -v s99="$(field p99_ms "$s")" -v r99="$(field p99_ms "$r")" \
		'BEGIN { if (rg > g) { g = rg; gp = p }; print g, gp, (s99 > ws ? s99 : ws), (r99 > wr ? r99 : wr) }')
	errors=$((errors + $(field errors "$r")))
	[ -n "$first_error" ] || first_error=$(sfield first_error "$r")
done
printf 'steps:\n%s' "$steps"
echo "rolling restart of $((2 * partitions)) instances of $partitions partitions: $(awk -v ms="$roll_ms" 'BEGIN { printf "%.1f", ms / 1000 }') s ($errors writes failed during it${first_error:+, e.g. $first_error}; not acknowledged, so not counted as lost)"
echo "longest write pause = $worst_gap ms (partition $worst_gap_p) (target <= 1000 ms: $(verdict "$worst_gap" '<=' 1000))"
echo "p99 during the roll / steady p99 = $worst_r / $worst_s ms = $(awk -v r="$worst_r" -v s="$worst_s" 'BEGIN { printf "%.2f", r / s }') (worst partition of each)"
echo "switch-over pauses reported:$pauses"
lost_verdict "$checked" "$lost" "$verr"
log "$partitions partitions, $clients clients per partition, $value_size-byte values, steady $steady, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
