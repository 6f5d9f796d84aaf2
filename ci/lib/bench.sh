# shellcheck shell=bash
# shellcheck disable=SC2154 # work and pids are ci/lib/procs.sh's
# The start of the grid benchmarks (ci/bench-*.sh): `. ci/lib/bench.sh CMD...` checks that
# each CMD is installed, sources ci/lib/procs.sh, ports.sh and grid.sh, and builds
# insight-grid and loadgen into $work (BENCH_GRID_BIN: use that insight-grid binary instead,
# e.g. to compare two builds). Then the helpers below start the anchors and plain grids,
# bound steps in time and measure CPU. Needs the caller's log function, and for bounded its
# budget (seconds, counted from the script's start) and budget_var (the environment
# variable that sets it, for the messages); sets no shell options.

for cmd in "$@"; do
	command -v "$cmd" >/dev/null || { log "$cmd not found (ci/tools.sh installs it)"; exit 1; }
done

# shellcheck source=ci/lib/procs.sh
. ci/lib/procs.sh
# shellcheck source=ci/lib/ports.sh
. ci/lib/ports.sh
# shellcheck source=ci/lib/grid.sh
. ci/lib/grid.sh
build_bench_tools
if [ -n "${BENCH_GRID_BIN:-}" ]; then
	[ -x "$BENCH_GRID_BIN" ] || { log "BENCH_GRID_BIN=$BENCH_GRID_BIN: not an executable file"; exit 1; }
	log "using BENCH_GRID_BIN=$BENCH_GRID_BIN as insight-grid"
	cp "$BENCH_GRID_BIN" "$work/insight-grid"
fi

# wait_ping PORT WHAT: waits (10 s at most) until 127.0.0.1:PORT answers PING.
wait_ping() {
	for _ in $(seq 1 200); do
		[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	log "$2 did not answer PING on 127.0.0.1:$1"
	exit 1
}

# start_redis [ARG...]: starts redis-server (no persistence, ARGs passed on) on a free
# port with its own directory under $work; sets redis_port and redis_pid.
start_redis() {
	redis_port=$(free_port)
	local dir="$work/redis-$redis_port"
	mkdir -p "$dir"
	redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize no \
		--dir "$dir" --logfile "$dir/redis.log" "$@" &
	redis_pid=$!
	pids+=("$redis_pid")
	wait_ping "$redis_port" redis-server
}

# start_grid PARTITIONS [ARG...]: starts `insight-grid local --partitions PARTITIONS`
# without backups (ARGs passed on) on free ports and waits for "ready" (3 tries on other
# ports when one was taken meanwhile). Sets grid_pid (local), grid_port (p0-i0's RESP port),
# grid_http (p0-i0's HTTP address), data_pid (p0-i0's pid) and grid_out (local's summary;
# the logs are in $grid_out.log).
start_grid() {
	local n=$1 attempt k base offsets=(0 1 2 9)
	shift
	for ((k = 0; k < n; k++)); do offsets+=($((10 + k)) $((510 + k)) $((1010 + k)) $((1510 + k)) $((2010 + k))); done
	for attempt in 1 2 3; do
		base=$(free_base "${offsets[@]}")
		grid_out="$work/grid-$base.out"
		: >"$grid_out" # exists before the background job's redirection runs
		"$work/insight-grid" local --partitions "$n" --base-port "$base" --log-level warn "$@" \
			>"$grid_out" 2>"$grid_out.log" &
		grid_pid=$!
		pids+=("$grid_pid")
		for _ in $(seq 1 600); do
			if grep -q '^ready$' "$grid_out"; then
				grid_port=$((base + 10)) grid_http=127.0.0.1:$((base + 1010))
				data_pid=$(awk '$1 == "p0-i0" && $2 == "pid" { print $3 }' "$grid_out")
				return 0
			fi
			kill -0 "$grid_pid" 2>/dev/null || break
			sleep 0.05
		done
		stop_pid "$grid_pid"
		tail -5 "$grid_out.log" >&2
		if [ "$attempt" = 3 ] || ! grep -q 'address already in use' "$grid_out.log"; then
			log "insight-grid local did not become ready"
			exit 1
		fi
		log "insight-grid local did not become ready (attempt $attempt), retrying on other ports"
	done
}

# stop_pid PID: SIGTERM to a process this script started, and wait for it.
stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# vm_rss PID: the process's resident set in bytes (VmRSS of /proc/PID/status).
vm_rss() { awk '$1 == "VmRSS:" { printf "%.0f\n", $2 * 1024 }' "/proc/$1/status"; }

# info_field PORT NAME: NAME's value in the server's INFO.
info_field() { redis-cli -p "$1" info | tr -d '\r' | awk -F: -v n="$2" '$1 == n { print $2 }'; }

# bounded WHAT CMD...: runs CMD under what is left of the time budget; being cut off by it
# is an error of the run.
bounded() {
	local what=$1 left=$((budget - SECONDS)) rc=0
	shift
	if [ "$left" -le 0 ]; then
		log "the ${budget}s budget ($budget_var) was spent before $what"
		exit 1
	fi
	timeout "$left" "$@" || rc=$?
	if [ "$rc" = 124 ]; then
		log "$what: cut off by the ${budget}s budget ($budget_var)"
		exit 1
	fi
	return "$rc"
}

# cpu_ticks PID...: the processes' user+system CPU time so far, in clock ticks.
cpu_ticks() {
	local pid total=0
	for pid in "$@"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat"))); done
	echo "$total"
}
hz=$(getconf CLK_TCK)
load1() { cut -d' ' -f1 /proc/loadavg; }
