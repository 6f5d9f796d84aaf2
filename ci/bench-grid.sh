#!/usr/bin/env bash
# Grid benchmark (make bench): redis-benchmark against `insight-grid local --partitions 1`
# and against a redis-server started in the same run, SET and GET with 100-byte values and
# 50 clients, without and with -P 16. Prints throughput, p99 and the grid/redis ratio.
#
# redis-benchmark --cluster refuses a cluster with a single master ("Invalid cluster: 1
# node(s)"), so the one-partition grid, whose only instance owns all 16384 slots and never
# redirects, is driven in plain mode; a second grid with 2 partitions is then driven with
# --cluster (MOVED-aware clients, slot routing) to show that path against the same anchor.
#
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Stops only the processes it started.
#
# Environment: BENCH_REQUESTS (default 200000 per test), BENCH_CLIENTS (50),
# BENCH_GRID_BIN (default bin/insight-grid, built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

requests=${BENCH_REQUESTS:-200000}
clients=${BENCH_CLIENTS:-50}
bin=${BENCH_GRID_BIN:-bin/insight-grid}

log() { printf 'bench-grid: %s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
	log "installing redis-server and redis-tools (Debian)"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server redis-tools >/dev/null
fi
if [ ! -x "$bin" ]; then
	log "building $bin"
	mkdir -p "$(dirname "$bin")"
	CGO_ENABLED=0 go build -trimpath -o "$bin" ./grid/cmd/insight-grid
fi

# shellcheck source=ci/lib/procs.sh
. ci/lib/procs.sh

. ci/lib/ports.sh
# free_base for a grid: its layout (+0..2, +10, +1010) free.
grid_base() { free_base 0 1 2 10 1010; }

wait_ping() { # host port what
	for _ in $(seq 1 200); do
		[ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.05
	done
	log "$3 did not answer PING on $1:$2"; exit 1
}

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize no \
	--dir "$work" --logfile "$work/redis.log" &
pids+=($!)
wait_ping 127.0.0.1 "$redis_port" redis-server

# start_grid partitions: starts a local grid, waits for "ready", sets grid_port and grid_pid.
start_grid() {
	local base out
	base=$(grid_base)
	out="$work/grid-$1"
	"$bin" local --partitions "$1" --base-port "$base" --log-level warn >"$out.out" 2>"$out.log" &
	grid_pid=$!
	pids+=("$grid_pid")
	for _ in $(seq 1 600); do
		grep -q '^ready$' "$out.out" && break
		kill -0 "$grid_pid" 2>/dev/null || { cat "$out.log" >&2; log "insight-grid local exited"; exit 1; }
		sleep 0.05
	done
	grep -q '^ready$' "$out.out" || { log "grid not ready"; exit 1; }
	grid_port=$((base + 10))
}
stop_grid() {
	kill "$grid_pid" 2>/dev/null || true
	wait "$grid_pid" 2>/dev/null || true
}

# run_bench target port pipeline [--cluster]: prints "test rps p99" lines.
run_bench() {
	redis-benchmark -h 127.0.0.1 -p "$2" -t set,get -d 100 -c "$clients" -n "$requests" -P "$3" \
		-r 100000 --csv ${4:-} 2>/dev/null |
		awk -F, 'NR > 1 { gsub(/"/, ""); print $1, $2, $7 }'
}

# compare label pipeline [--cluster]: one redis run and one grid run, two table rows.
compare() {
	local redis grid t rr rp gr gp ratio
	redis=$(run_bench redis "$redis_port" "$2")
	grid=$(run_bench grid "$grid_port" "$2" ${3:-})
	for t in SET GET; do
		read -r _ rr rp < <(grep "^$t " <<<"$redis")
		read -r _ gr gp < <(grep "^$t " <<<"$grid")
		ratio=$(awk -v g="$gr" -v r="$rr" 'BEGIN { printf "%.2f", g / r }')
		printf '%-22s %-4s %-3s %12s %12s %7s %12s %12s\n' "$1" "$t" "$2" "$rr" "$gr" "$ratio" "$rp" "$gp"
	done
}

printf '%-22s %-4s %-3s %12s %12s %7s %12s %12s\n' grid test P redis_rps grid_rps ratio redis_p99ms grid_p99ms
start_grid 1
compare "1 partition" 1
compare "1 partition" 16
stop_grid
start_grid 2
compare "2 partitions, cluster" 1 --cluster
compare "2 partitions, cluster" 16 --cluster
stop_grid
log "$requests requests per test, $clients clients, 100-byte values, $(nproc) cores; redis $(redis-server --version | awk '{print $3}')"
