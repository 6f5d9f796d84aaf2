#!/usr/bin/env bash
# Tiered storage benchmark (make bench): GET latency of a data instance whose data set is
# three times its RAM budget, for hot keys (in RAM) and cold ones (on disk), next to the
# same grid without tiering (everything in RAM) as the anchor, measured in the same run.
# One `insight-grid local --partitions 1 --data-dir D --tiering-ram R` and one plain
# `insight-grid local --partitions 1`; each gets `loadgen fill` of 3R bytes of values
# (keys key:000000000000 upwards, written first, so the tier holds most of them) and then
# a hot set (hot:000000000000 upwards, written last, small enough to stay in RAM).
# redis-benchmark GET with 50 clients, no pipelining: on hot:__rand_int__ (the hot set)
# and key:__rand_int__ over the whole data set (about two reads in three from disk on the
# tiered grid: a cold read brings its key back into RAM and spills another), once the
# journal's snapshot after the fill (which reads the values on disk) is over. Prints the
# p50/p99 of each, the ratios tiered/anchor and the cold reads INFO counted.
# Not a timed test: the numbers are for reading; the exit code only says the run worked.
# Environment: BENCH_TIERING_RAM (default 64mb), BENCH_TIERING_VALUE (1000 bytes),
# BENCH_REQUESTS (default 100000 per test), BENCH_CLIENTS (50), BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

ram=${BENCH_TIERING_RAM:-64mb}
size=${BENCH_TIERING_VALUE:-1000}
requests=${BENCH_REQUESTS:-100000}
clients=${BENCH_CLIENTS:-50}

log() { printf 'bench-tiering: %s\n' "$*" >&2; }

# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh redis-cli redis-benchmark go

bytes() {
	case $1 in
	*mb) echo $((${1%mb} << 20)) ;;
	*gb) echo $((${1%gb} << 30)) ;;
	*) echo "$1" ;;
	esac
}
ram_bytes=$(bytes "$ram")
keys=$((3 * ram_bytes / size))
hot=$((ram_bytes / size / 10))

# fill PORT PREFIX N: writes N keys PREFIX:000000000000 upwards with $size-byte values.
fill() {
	"$work/loadgen" fill --addr "127.0.0.1:$1" --prefix "$2" --keys "$3" --value-size "$size" --clients 4 --timeout 60s >/dev/null
}

# lat PORT PREFIX RANGE: "p50 p99" in milliseconds of GET PREFIX:__rand_int__ over RANGE keys.
lat() {
	redis-benchmark -h 127.0.0.1 -p "$1" -c "$clients" -n "$requests" -r "$3" --csv "GET" "$2:__rand_int__" |
		awk -F, 'NR == 2 { gsub(/"/, ""); print $5, $7 }'
}

log "RAM budget $ram_bytes bytes, $keys keys of $size bytes (3x), hot set $hot keys"
start_grid 1
plain_port=$grid_port plain_pid=$grid_pid
start_grid 1 --data-dir "$work/tiered" --appendfsync no --tiering-ram "$ram_bytes"
tier_port=$grid_port tier_pid=$grid_pid
for p in "$plain_port" "$tier_port"; do
	fill "$p" key "$keys"
	fill "$p" hot "$hot"
done
# The journal's snapshot after the fill reads every value on disk: measure once it is done
# (the cold reads stop rising; 2 minutes at most).
prev=-1
for _ in $(seq 1 60); do
	now=$(info_field "$tier_port" tiered_cold_reads)
	[ "$now" = "$prev" ] && break
	prev=$now
	sleep 2
done
log "tiered grid: $(info_field "$tier_port" tiered_keys) keys on disk, $(info_field "$tier_port" tiered_disk_bytes) bytes, used_memory $(info_field "$tier_port" used_memory)"

cold0=$(info_field "$tier_port" tiered_cold_reads)
read -r plain_hot50 plain_hot99 <<<"$(lat "$plain_port" hot "$hot")"
read -r tier_hot50 tier_hot99 <<<"$(lat "$tier_port" hot "$hot")"
cold1=$(info_field "$tier_port" tiered_cold_reads)
read -r plain_all50 plain_all99 <<<"$(lat "$plain_port" key "$keys")"
read -r tier_all50 tier_all99 <<<"$(lat "$tier_port" key "$keys")"
cold2=$(info_field "$tier_port" tiered_cold_reads)

awk -v ph50="$plain_hot50" -v ph99="$plain_hot99" -v th50="$tier_hot50" -v th99="$tier_hot99" \
	-v pa50="$plain_all50" -v pa99="$plain_all99" -v ta50="$tier_all50" -v ta99="$tier_all99" \
	-v c0="$cold0" -v c1="$cold1" -v c2="$cold2" -v n="$requests" -v avg="$(info_field "$tier_port" tiered_cold_read_avg_usec)" 'BEGIN {
	printf "hot keys:  tiered p50 %.3f p99 %.3f ms, anchor (no tiering) p50 %.3f p99 %.3f ms: p99 ratio %.2fx (%d of %d reads from disk)\n", th50, th99, ph50, ph99, th99 / ph99, c1 - c0, n
	printf "all keys:  tiered p50 %.3f p99 %.3f ms, anchor (no tiering) p50 %.3f p99 %.3f ms: p99 ratio %.2fx (%d of %d reads from disk, %d us each on average)\n", ta50, ta99, pa50, pa99, ta99 / pa99, c2 - c1, n, avg
}'
stop_pid "$tier_pid"
stop_pid "$plain_pid"
