# shellcheck shell=bash
# shellcheck disable=SC2154 # work and pids are ci/lib/procs.sh's
# An HA grid of `insight-grid local` for the benchmarks (ci/bench-ha.sh, ci/bench-rolling.sh,
# ci/bench-repartition.sh): building the binaries, starting the grid, reading its JSON
# answers and reading acknowledged keys back. Source it after ci/lib/procs.sh and
# ci/lib/ports.sh (ci/lib/bench.sh does); needs the caller's log function. It sets no shell
# options.

# build_bench_tools: builds insight-grid and loadgen into $work.
build_bench_tools() {
	log "building insight-grid and loadgen into $work"
	CGO_ENABLED=0 go build -trimpath -o "$work/insight-grid" ./grid/cmd/insight-grid
	CGO_ENABLED=0 go build -trimpath -o "$work/loadgen" ./ci/loadgen
}

# field NAME JSON: the first value of the scalar field NAME in JSON, compact or indented
# ("" when absent); text stops at a comma or a space, sfield keeps everything up to the quote.
field() { sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\{0,1\}\([^,"}[:space:]]*\).*/\1/p' <<<"$2" | head -n 1; }
sfield() { sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' <<<"$2" | head -n 1; }

# verdict VALUE OP TARGET: "met" when VALUE OP TARGET holds (OP is >= or <=), else "NOT met".
verdict() { awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "NOT met" }'; }

# start_ha_grid PARTITIONS [ARG...]: starts `insight-grid local --partitions PARTITIONS --ha`
# (ARGs passed on) on a free base port, with the ports of $grow_to partitions free when set
# (a grid that re-partitions to more), and waits for its "ready" line; a port taken between
# the check and the bind makes local exit, and it is tried again on other ports (3 tries).
# Sets base, api (the manager's host:port), grid_pid and INSIGHT_OPERATOR_TOKEN_FILE (the
# operator token the admin commands present); local's summary goes to
# $work/grid.out, the grid's logs to $work/grid.log.
start_ha_grid() {
	local n=$1 attempt k offsets=(0 1 2 9)
	shift
	for ((k = 0; k < 2 * (n > ${grow_to:-0} ? n : grow_to); k++)); do offsets+=($((10 + k)) $((510 + k)) $((1010 + k)) $((1510 + k)) $((2010 + k))); done
	for attempt in 1 2 3; do
		base=$(free_base "${offsets[@]}")
		"$work/insight-grid" local --partitions "$n" --ha --base-port "$base" --log-format json "$@" \
			>"$work/grid.out" 2>"$work/grid.log" &
		grid_pid=$!
		pids+=("$grid_pid")
		for _ in $(seq 1 600); do
			if grep -q '^ready$' "$work/grid.out"; then
				api=127.0.0.1:$((base + 2))
				# The admin commands (insight-grid repartition ...) present local's token.
				INSIGHT_OPERATOR_TOKEN_FILE=$(sed -n 's/^operator-token-file //p' "$work/grid.out")
				export INSIGHT_OPERATOR_TOKEN_FILE
				return 0
			fi
			kill -0 "$grid_pid" 2>/dev/null || break
			sleep 0.05
		done
		kill "$grid_pid" 2>/dev/null || true
		wait "$grid_pid" 2>/dev/null || true
		grep -v '"level":"INFO"' "$work/grid.log" | tail -5 >&2
		[ "$attempt" -lt 3 ] || { log "insight-grid local did not become ready"; exit 1; }
		log "insight-grid local did not become ready (attempt $attempt), retrying on other ports"
	done
}

# Instance pK-iI is the local grid's instance number k = 2K+I: RESP base+10+k, HTTP base+1010+k.
inst_k() { local p=${1#p} i=${1#*-i}; p=${p%%-*}; echo $((p * 2 + i)); }
resp_addr() { echo "127.0.0.1:$((base + 10 + $(inst_k "$1")))"; }
http_addr() { echo "127.0.0.1:$((base + 1010 + $(inst_k "$1")))"; }
# partition_json N: the manager's record of partition N, on one line.
partition_json() { curl -fsS "http://$api/v1/partitions/$1" | tr -d '[:space:]'; }
# instance_pid ID: "pid" of the instance's /v1/status, else the pid in local's summary.
instance_pid() {
	local pid
	pid=$(field pid "$(curl -fsS "http://$(http_addr "$1")/v1/status" 2>/dev/null || true)")
	[ -n "$pid" ] || pid=$(awk -v id="$1" '$1 == id && $2 == "pid" { print $3 }' "$work/grid.out")
	echo "$pid"
}

# verify_keys SEEDS VALUE_SIZE FILE...: reads back every key of each FILE (written by
# loadgen --acked-file) through a cluster client; prints "checked lost errors", where lost
# counts keys missing or holding another value and errors read-backs that failed (their
# keys' fate unknown).
verify_keys() {
	local seeds=$1 value_size=$2 f v c=0 l=0 e=0
	shift 2
	for f in "$@"; do
		v=$("$work/loadgen" --verify "$f" --cluster --addr "$seeds" --value-size "$value_size" --clients 16)
		c=$((c + $(field checked "$v"))) l=$((l + $(field missing "$v") + $(field wrong "$v"))) e=$((e + $(field errors "$v")))
	done
	echo "$c $l $e"
}

# lost_verdict CHECKED LOST ERRORS: the line on lost writes; unknown when a read-back failed.
lost_verdict() {
	if [ "$3" = 0 ]; then
		echo "lost writes = $2 of $1 acknowledged (target 0: $(verdict "$2" '<=' 0))"
	else
		echo "lost writes = unknown: $3 of $1 read-backs failed; $2 missing or wrong among the rest (target 0: NOT met)"
	fi
}
