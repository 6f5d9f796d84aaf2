#!/usr/bin/env bash
# Fill benchmark (make bench): the grid's data instance under a real memory limit. Each run
# creates a cgroup v1 memory child with memory.limit_in_bytes = BENCH_FILL_LIMIT_MIB, starts
# `insight-grid local --partitions 1 --restart-delay 0` with the chart's rule (GOMEMLIMIT =
# the container's memory limit in bytes; the data instance derives maxmemory from it), moves
# the data instance inside the cgroup, and writes new keys with 50
# clients until the first -OOM reply and BENCH_FILL_AFTER beyond (`loadgen oom`), sampling
# the cgroup's memory.usage_in_bytes and the process's VmRSS. One run writes 100-byte values,
# one a burst of 512 KiB values. Reported per run: the largest RSS against the limit,
# used_memory and RSS at the first -OOM as % of the limit, throughput in the first and the
# last 10% of the bytes written before the first -OOM, and whether the kernel OOM-killed
# the process (memory.oom_control's oom_kill, the process gone).
#
# Targets: RSS <= limit always (never OOM-killed), first -OOM before 95% of the
# limit, last-10% throughput >= 0.8x the first 10%. Not a timed test: the exit code only
# says the run worked. Needs root and a writable cgroup v1 memory controller (else it says
# so and exits 0); removes its cgroups and stops only the processes it started.
#
# Environment: BENCH_FILL_LIMIT_MIB (256), BENCH_FILL_VALUE_SIZES ("100 524288"),
# BENCH_FILL_CLIENTS (50), BENCH_FILL_AFTER (5s), BENCH_FILL_MAX_DURATION (120s per run),
# BENCH_FILL_CGROUP_ROOT (/sys/fs/cgroup/memory), BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

limit_mib=${BENCH_FILL_LIMIT_MIB:-256}
sizes=${BENCH_FILL_VALUE_SIZES:-100 524288}
clients=${BENCH_FILL_CLIENTS:-50}
after=${BENCH_FILL_AFTER:-5s}
max_duration=${BENCH_FILL_MAX_DURATION:-120s}
cg_root=${BENCH_FILL_CGROUP_ROOT:-/sys/fs/cgroup/memory}

log() { printf 'bench-fill: %s\n' "$*" >&2; }

[[ $limit_mib =~ ^[1-9][0-9]*$ ]] || { log "BENCH_FILL_LIMIT_MIB=$limit_mib: want a positive whole number of MiB"; exit 1; }
if [ "$(id -u)" != 0 ] || [ ! -w "$cg_root/memory.limit_in_bytes" ] && [ ! -w "$cg_root" ]; then
	echo "fill benchmark SKIPPED: needs root and a writable cgroup v1 memory controller at $cg_root (BENCH_FILL_CGROUP_ROOT)"
	exit 0
fi
if [ ! -f "$cg_root/memory.limit_in_bytes" ] || [ ! -w "$cg_root" ]; then
	echo "fill benchmark SKIPPED: $cg_root is not a writable cgroup v1 memory hierarchy (no memory.limit_in_bytes)"
	exit 0
fi

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli curl go

limit=$((limit_mib << 20))
cgroups=()
# rm_cgroups: removes the cgroups this run created once their processes are gone (5 s).
rm_cgroups() {
	local d
	for d in "${cgroups[@]}"; do
		[ -d "$d" ] || continue
		for _ in $(seq 1 50); do
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
		[ ! -d "$d" ] || log "could not remove the cgroup $d (tasks: $(tr '\n' ' ' <"$d/cgroup.procs"))"
	done
}
trap 'cleanup; rm_cgroups' EXIT

mib() { awk -v b="$1" 'BEGIN { if (b < 0) print "n/a"; else printf "%.1f MiB", b / 1048576 }'; }
pct() { awk -v v="$1" 'BEGIN { if (v < 0) print "n/a"; else printf "%.1f%%", v }'; }

# start_data_in CG: replaces the grid's data instance by one started inside the cgroup CG
# (a process's pages charged before it moves stay outside a v1 cgroup, and recent kernels
# no longer move them): local started it with --restart-delay 0, so after SIGTERM it stays
# down (deregistered), and the same command line is started again through a shell that
# joins CG first, with GOMEMLIMIT set as the chart sets it. Sets data_pid.
start_data_in() {
	local cg=$1 args=() port http
	mapfile -d '' -t args <"/proc/$data_pid/cmdline"
	stop_pid "$data_pid" # not a child of this shell: wait until it is gone
	for _ in $(seq 1 200); do
		kill -0 "$data_pid" 2>/dev/null || break
		sleep 0.05
	done
	GOMEMLIMIT=$limit sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "${args[@]}" >>"$grid_out.log" 2>&1 &
	data_pid=$!
	pids+=("$data_pid")
	port=$grid_port http=$grid_http
	for _ in $(seq 1 400); do
		[ "$(field serving "$(curl -fsS "http://$http/v1/status" 2>/dev/null || true)")" = true ] &&
			[ "$(redis-cli -p "$port" set bench-fill:probe 1 2>/dev/null)" = OK ] && break
		kill -0 "$data_pid" 2>/dev/null || { tail -5 "$grid_out.log" >&2; log "the data instance started in $cg exited"; exit 1; }
		sleep 0.05
	done
	[ "$(redis-cli -p "$port" del bench-fill:probe 2>/dev/null)" = 1 ] || { log "the data instance started in $cg does not serve writes"; exit 1; }
	grep -q ":memory:/${cg#"$cg_root"/}\$" "/proc/$data_pid/cgroup" ||
		{ log "the data instance (pid $data_pid) is not in $cg: $(grep memory "/proc/$data_pid/cgroup")"; exit 1; }
}

# fill_run VALUE_SIZE: one run in a fresh cgroup and grid; prints its report.
fill_run() {
	local size=$1 cg out died killed
	cg="$cg_root/insight-bench-fill-$$-$size"
	mkdir "$cg"
	cgroups+=("$cg")
	echo "$limit" >"$cg/memory.limit_in_bytes"
	start_grid 1 --restart-delay 0
	start_data_in "$cg"
	log "value size $size: data instance pid $data_pid in $cg (limit $limit bytes, GOMEMLIMIT=$limit, maxmemory $(info_field "$grid_port" maxmemory)), RSS $(mib "$(vm_rss "$data_pid")")"
	out=$("$work/loadgen" oom --addr "127.0.0.1:$grid_port" --clients "$clients" --value-size "$size" \
		--after "$after" --max-duration "$max_duration" --pid "$data_pid" --cgroup "$cg" --limit "$limit")
	log "$out"
	died=$(field process_died "$out") killed=$(field cgroup_oom_kill "$out")
	printf '\n%s-byte values, %s clients, limit %s MiB (GOMEMLIMIT=%s, maxmemory %s):\n' "$size" "$clients" "$limit_mib" "$limit" "$(field maxmemory "$out")"
	if [ "$(field first_oom "$out")" = true ]; then
		printf '  first -OOM at %s s after %s keys (%s): used_memory %s = %s of the limit, RSS %s = %s (target < 95%%: %s)\n' \
			"$(field first_oom_at_s "$out")" "$(field keys_at_first_oom "$out")" "$(mib "$(field bytes_at_first_oom "$out")") written" \
			"$(mib "$(field used_memory_at_first_oom "$out")")" "$(pct "$(field used_memory_at_first_oom_pct "$out")")" \
			"$(mib "$(field rss_at_first_oom "$out")")" "$(pct "$(field rss_at_first_oom_pct "$out")")" \
			"$(verdict "$(field rss_at_first_oom_pct "$out")" '<=' 95)"
	else
		printf '  first -OOM: NONE (%s -OOM replies; %s keys, %s acknowledged) (target: before 95%% of the limit: NOT met)\n' \
			"$(field oom_replies "$out")" "$(field acked "$out")" "$(mib "$(field acked_bytes "$out")")"
	fi
	printf '  max RSS (VmRSS) %s = %s of the limit (anonymous %s; the rest is mostly the binary'"'"'s pages, charged to the cgroup that first read them); cgroup max usage %s = %s, failcnt %s (limit hit that often)\n' \
		"$(mib "$(field max_rss "$out")")" "$(pct "$(field max_rss_pct "$out")")" "$(mib "$(field max_rss_anon "$out")")" \
		"$(mib "$(field cgroup_max_usage_in_bytes "$out")")" "$(pct "$(field max_cgroup_usage_pct "$out")")" "$(field cgroup_failcnt "$out")"
	printf '  throughput over the %s: first 10%% %s/s, last 10%% %s/s, last/first = %s (target >= 0.8: %s)\n' \
		"$(sfield throughput_window "$out")" "$(mib "$(field first_tenth_bytes_per_s "$out")")" \
		"$(mib "$(field last_tenth_bytes_per_s "$out")")" "$(field last_over_first "$out")" \
		"$(verdict "$(field last_over_first "$out")" '>=' 0.8)"
	if [ "$died" = true ] || [ "$killed" != 0 ]; then
		printf '  OOM-KILLED: yes (memory.oom_control oom_kill %s; the process died %s s into the run, %s keys acknowledged, %s -OOM replies before) (target: never: NOT met)\n' \
			"$killed" "$(field died_at_s "$out")" "$(field acked "$out")" "$(field oom_replies "$out")"
	else
		printf '  OOM-killed: no (oom_kill %s; the process ran to the end) (target: never: met)\n' "$killed"
	fi
	[ "$(field other_errors "$out")" = 0 ] || printf '  other errors: %s (first: %s)\n' "$(field other_errors "$out")" "$(sfield first_other_error "$out")"
	stop_pid "$data_pid"
	stop_pid "$grid_pid"
}

for size in $sizes; do
	[[ $size =~ ^[1-9][0-9]*$ ]] || { log "BENCH_FILL_VALUE_SIZES entry $size: want a positive number of bytes"; exit 1; }
	fill_run "$size"
done
log "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
