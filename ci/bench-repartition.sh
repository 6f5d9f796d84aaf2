#!/usr/bin/env bash
# Re-partitioning benchmark (make bench): an HA grid of BENCH_REPART_FROM partitions
# (`insight-grid local --ha`) is loaded with BENCH_REPART_KEYS keys, then grows to
# BENCH_REPART_TO partitions (`insight-grid repartition`) while loadgen writes unique keys
# through a go-redis cluster client. The anchor is the same write load measured on the same
# grid just before, in the same run: the ratio is the throughput kept during the migration;
# the same load on the grown grid is measured after it too.
# Every key written (the preload, the steady run and the writes during the migration) is
# read back afterwards: lost keys and wrong values are counted.
#
# Targets: throughput during the migration >= 50% of steady state, 0 lost keys;
# the duration is reported. Not a timed test: the exit code only says the run worked.
# Installs nothing (ci/tools.sh does); builds insight-grid and loadgen into a temporary
# directory; stops only the processes it started.
#
# Environment: BENCH_REPART_KEYS (default 1000000), BENCH_REPART_FROM (3), BENCH_REPART_TO
# (5), BENCH_CLIENTS (50), BENCH_REPART_STEADY (10s), BENCH_REPART_VALUE_SIZE (64),
# BENCH_REPART_RATE (empty: the manager's default; else passed as --rate, e.g. 1mb),
# BENCH_REPART_LOG (a file to keep insight-grid repartition's progress lines in).
set -euo pipefail
cd "$(dirname "$0")/.."

keys=${BENCH_REPART_KEYS:-1000000}
from=${BENCH_REPART_FROM:-3}
to=${BENCH_REPART_TO:-5}
clients=${BENCH_CLIENTS:-50}
steady=${BENCH_REPART_STEADY:-10s}
value_size=${BENCH_REPART_VALUE_SIZE:-64}
rate=${BENCH_REPART_RATE:-}

log() { printf 'bench-repartition: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh curl go

grow_to=$to start_ha_grid "$from"
seed=$(resp_addr p0-i0)
log "grid of $from HA partitions: seed $seed, manager $api"
lg() { "$work/loadgen" --cluster --addr "$seed" --clients "$clients" --value-size "$value_size" --keyspace unique "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

t0=$(now)
pre=$(lg --requests "$keys" --prefix pre --acked-file "$work/pre.keys")
log "preloaded $(field ops "$pre") keys in $(secs "$t0" "$(now)") s ($(field ops_per_sec "$pre") writes/s, $(field errors "$pre") errors)"

st=$(lg --duration "$steady" --prefix steady --acked-file "$work/steady.keys")
log "steady state: $(field ops_per_sec "$st") writes/s, p99 $(field p99_ms "$st") ms"

# Started directly (not through lg, whose subshell would not pass SIGTERM on).
"$work/loadgen" --cluster --addr "$seed" --clients "$clients" --value-size "$value_size" --keyspace unique \
	--duration 1h --prefix mig --acked-file "$work/mig.keys" --track-gap >"$work/mig.json" &
load_pid=$!
pids+=("$load_pid")
t1=$(now)
"$work/insight-grid" repartition --manager "$api" --partitions "$to" --timeout 15m ${rate:+--rate "$rate"} >"$work/repartition.log" ||
	{ tail -5 "$work/repartition.log" >&2; log "re-partitioning failed"; exit 1; }
t2=$(now)
kill -TERM "$load_pid"
wait "$load_pid" || { log "loadgen failed during the migration"; exit 1; }
mig=$(cat "$work/mig.json")
duration=$(secs "$t1" "$t2")
log "re-partitioned $from -> $to in $duration s; during it: $(field ops_per_sec "$mig") writes/s, p99 $(field p99_ms "$mig") ms"

# The same load on the grid of the new size: more partitions are not faster on a small
# machine (fewer clients per partition batch fewer replies per write), so the migration is
# compared with this too.
after=$(lg --duration "$steady" --prefix after --acked-file "$work/after.keys")
log "steady state with $to partitions: $(field ops_per_sec "$after") writes/s, p99 $(field p99_ms "$after") ms"

read -r checked lost verr <<<"$(verify_keys "$seed" "$value_size" "$work"/{pre,steady,mig,after}.keys)"

ratio=$(awk -v m="$(field ops_per_sec "$mig")" -v s="$(field ops_per_sec "$st")" 'BEGIN { printf "%.2f", m / s }')
ratio_after=$(awk -v m="$(field ops_per_sec "$mig")" -v s="$(field ops_per_sec "$after")" 'BEGIN { printf "%.2f", m / s }')
[ -z "${BENCH_REPART_LOG:-}" ] || cp "$work/repartition.log" "$BENCH_REPART_LOG"
moved=$(grep -c . "$work/repartition.log" || true)
echo "re-partitioning $from -> $to partitions with $keys keys preloaded (HA, $clients clients writing unique keys, value size $value_size, rate per source ${rate:-default}):"
echo "  duration                  $duration s (insight-grid repartition, $moved progress lines)"
echo "  steady state, $from partitions $(field ops_per_sec "$st") writes/s, p99 $(field p99_ms "$st") ms (the anchor)"
echo "  steady state, $to partitions $(field ops_per_sec "$after") writes/s, p99 $(field p99_ms "$after") ms (measured after)"
echo "  during the migration      $(field ops_per_sec "$mig") writes/s, p99 $(field p99_ms "$mig") ms, longest write gap $(field gap_ms "$mig") ms, $(field errors "$mig") errors"
[ "$(field errors "$mig")" = 0 ] || echo "  first error               $(sfield first_error "$mig")"
echo "  throughput ratio          $ratio of the steady state before (target >= 0.50: $(verdict "$ratio" '>=' 0.5)); $ratio_after of the one after"
echo "  keys read back            $(lost_verdict "$checked" "$lost" "$verr")"
