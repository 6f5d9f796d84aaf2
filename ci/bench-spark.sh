#!/usr/bin/env bash
# Spark benchmark (make bench): the SaveProducts example (e2e/spark/src) writing N products
# through the Redis connector (spark-redis) in Spark's local mode, into
#   - grid:    `insight-grid local --partitions BENCH_SPARK_PARTITIONS --sql` (pu.ha off),
#   - grid-ha: the same with --ha (a backup per partition, every write replicated to it),
#   - redis:   Debian's redis-server 7.0 (standalone, no persistence), the anchor,
# all on this machine, all with a password, one after the other (each stopped before the
# next starts). The grid runs SaveProducts' CREATE TABLE over its SQL endpoint first; the
# anchor has no SQL endpoint, so it runs with spark.insight.sql.createTable=false (rows only).
# Then CountProducts reads the rows back through the connector and must count N.
#
# Figures per target: the write's rows/s as SaveProducts prints it (the save() call alone:
# Spark SQL's planning and the connector's writes, not the JVM's or the session's start),
# rows/s over Spark's write job alone ("Job 0 finished: save ... took X s" in the driver's
# log), the read-back's rows/s as CountProducts prints it (its query alone), the whole spark-submit's wall time, and
# the time from spark-submit's start to the driver's first log line (local mode; the cluster
# figure, submit to the driver pod's first line, comes from `insightctl submit` on the local
# cluster, not from here). Ratios grid/redis; target: write rows/s >= 1.0x with ha off, ha
# on reported beside it.
#
# Spark is the insight-spark image's parts as ci/spark-image.sh caches them (it is run when
# they are missing): Spark $SPARK_VERSION's tree and the connector jars pinned in
# e2e/spark/pom.xml under ~/.cache/insight/spark/; the examples are compiled here with javac
# against those jars, as the image build compiles them (ci/spark-image.sh also installs the
# JDK, openjdk-17-jdk-headless, when javac is missing). The host's Java 17 runs them with
# --master local[2], the driver bound to 127.0.0.1 and its web UI off.
#
# Not a timed test: the numbers are for reading; the exit code says only that the run worked
# (a server that did not start, a job that failed, a count that differs, a step cut off by
# the budget). Every step runs under `timeout` with what is left of BENCH_SPARK_BUDGET
# seconds (counted from the start, the builds included). Stops only the processes it started.
#
# Environment: BENCH_SPARK_ROWS (1000000), BENCH_SPARK_PARTITIONS (3: the grid's partitions),
# BENCH_SPARK_BUDGET (600 + 1 per 200 rows), BENCH_GRID_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'bench-spark: %s\n' "$*" >&2; }

# positive NAME VALUE: VALUE, or exits naming the variable when it is not an integer >= 1.
positive() {
	[[ $2 =~ ^[1-9][0-9]*$ ]] || { log "$1=$2: must be a positive integer"; exit 1; }
	echo "$2"
}
rows=$(positive BENCH_SPARK_ROWS "${BENCH_SPARK_ROWS:-1000000}") || exit 1
partitions=$(positive BENCH_SPARK_PARTITIONS "${BENCH_SPARK_PARTITIONS:-3}") || exit 1
budget=$(positive BENCH_SPARK_BUDGET "${BENCH_SPARK_BUDGET:-$((600 + rows / 200))}") || exit 1
password=bench-spark-secret
export REDISCLI_AUTH=$password # redis-cli's password (start_redis waits on its PING)

# Spark's parts, where ci/spark-image.sh leaves them.
cache=${INSIGHT_CACHE:-$HOME/.cache/insight}
spark_version=$(sed -n 's/^SPARK_VERSION=\([0-9.]*\).*/\1/p' ci/spark-image.sh)
spark_home=$cache/spark/spark-$spark_version
connector_jars=$cache/spark/jars-$(sha256sum e2e/spark/pom.xml | cut -c1-12)
if [ ! -x "$spark_home/bin/spark-submit" ] || [ ! -d "$connector_jars" ] || ! command -v javac >/dev/null ||
	! command -v jar >/dev/null; then
	# It installs the JDK (openjdk-17-jdk-headless) too when it is missing.
	log "Spark $spark_version, the connector jars or the JDK are missing: running ci/spark-image.sh"
	ci/spark-image.sh
fi

budget_var=BENCH_SPARK_BUDGET
# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh java javac jar redis-server redis-cli go timeout
CGO_ENABLED=0 go build -trimpath -o "$work/insight-sql" ./grid/cmd/insight-sql
unset GOMEMLIMIT # no maxmemory (the data instances inherit local's environment)

# The examples, compiled as ci/spark-image.sh compiles them for the image.
mkdir -p "$work/classes"
# shellcheck disable=SC2046 # the list of sources
bounded "compiling the examples" nice javac --release 17 -Xlint:all,-path -Werror -d "$work/classes" \
	-cp "$spark_home/jars/*:$connector_jars/*" $(find e2e/spark/src -name '*.java' | LC_ALL=C sort)
jar --create --file "$work/examples.jar" -C "$work/classes" .
jars=$(find "$connector_jars" -name '*.jar' | LC_ALL=C sort | paste -sd, -)
log "built in ${SECONDS}s; Spark $spark_version, $(java -version 2>&1 | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"

# submit NAME CLASS ARG...: spark-submit in local mode against $target_port (and $target_sql
# when set), bounded; the driver's stdout goes to $work/NAME.out, its log to $work/NAME.log.
# Prints "wall_ms first_log_line_ms". A failed job fails the run.
submit() {
	local name=$1 class=$2 t0 rc=0 first conf
	shift 2
	conf=(--conf spark.redis.host=127.0.0.1 --conf "spark.redis.port=$target_port" --conf "spark.redis.auth=$password"
		--conf spark.driver.bindAddress=127.0.0.1 --conf spark.driver.host=127.0.0.1 --conf spark.ui.enabled=false)
	if [ -n "$target_sql" ]; then
		conf+=(--conf "spark.insight.sql.url=jdbc:mariadb://$target_sql/insight")
	else
		conf+=(--conf spark.insight.sql.createTable=false)
	fi
	t0=$(date +%s%N)
	# The first line of the driver's log stamps its time; the rest is copied after it.
	SPARK_LOCAL_IP=127.0.0.1 bounded "$name" "$spark_home/bin/spark-submit" --master 'local[2]' --class "io.insightgrid.examples.$class" \
		--jars "$jars" "${conf[@]}" "$work/examples.jar" "$@" 2>&1 >"$work/$name.out" |
		{ IFS= read -r first || true; date +%s%N >"$work/$name.first"; printf '%s\n' "$first"; cat; } >"$work/$name.log" ||
		rc=$?
	if [ "$rc" != 0 ]; then
		tail -15 "$work/$name.log" >&2
		cat "$work/$name.out" >&2
		log "$name: spark-submit $class failed (exit $rc)"
		exit 1
	fi
	echo "$((($(date +%s%N) - t0) / 1000000)) $((($(cat "$work/$name.first") - t0) / 1000000))"
}

# job_seconds NAME CLASS: the sum of the durations of the Spark jobs CLASS ran, from its log
# (jobs of runJob only: a query's shuffle map stages under adaptive execution log no "took").
job_seconds() {
	awk -v c="$2.java" '/ Job [0-9]+ finished: / && index($0, c) { for (i = 1; i < NF; i++) if ($i == "took") s += $(i + 1) }
		END { printf "%.3f\n", s }' "$work/$1.log"
}

# run_target NAME: SaveProducts then CountProducts against the running target; prints
# "save_rows_s job_rows_s read_rows_s save_wall_ms first_line_ms read_wall_ms load".
run_target() {
	local name=$1 save read saved save_s job_s read_s load
	load=$(load1)
	save=$(submit "$name-save" SaveProducts "$rows") || exit 1
	saved=$(sed -n 's/^Saved \([0-9]*\) products to the grid in \([0-9.]*\) s .*/\1 \2/p' "$work/$name-save.out")
	[ "${saved% *}" = "$rows" ] || { cat "$work/$name-save.out" >&2; log "$name: SaveProducts did not report $rows rows saved"; exit 1; }
	save_s=${saved#* }
	job_s=$(job_seconds "$name-save" SaveProducts)
	read=$(submit "$name-count" CountProducts "$rows") || exit 1
	read_s=$(sed -n 's/^Counted '"$rows"' products, .* in \([0-9.]*\) s .*/\1/p' "$work/$name-count.out")
	[ -n "$read_s" ] || { cat "$work/$name-count.out" >&2; log "$name: CountProducts did not report $rows rows counted"; exit 1; }
	log "$name: $(cat "$work/$name-save.out"); $(cat "$work/$name-count.out"); write job ${job_s}s"
	awk -v n="$rows" -v s="$save_s" -v j="$job_s" -v r="$read_s" -v sv="$save" -v rd="$read" -v ld="$load" 'BEGIN {
		split(sv, a, " "); split(rd, b, " ")
		printf "%.0f %.0f %.0f %d %d %d %s\n", n / s, (j > 0 ? n / j : 0), (r > 0 ? n / r : 0), a[1], a[2], b[1], ld }'
}

# grid_sql: the SQL endpoint local printed.
grid_sql() { sed -n 's/^sql mysql:\/\/\(.*\)$/\1/p' "$grid_out" | sed 's/^.*@//'; }

# ---- the run ---------------------------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== SaveProducts of N=$rows products through spark-redis, Spark $spark_version --master local[2]; load average $load_start"
declare -A result
for target in redis grid grid-ha; do
	case $target in
	redis)
		start_redis --requirepass "$password"
		target_port=$redis_port target_sql= target_pid=$redis_pid
		;;
	grid | grid-ha)
		ha=()
		[ "$target" = grid ] || ha=(--ha)
		start_grid "$partitions" --sql --requirepass "$password" "${ha[@]}"
		target_port=$grid_port target_sql=$(grid_sql) target_pid=$grid_pid
		[ -n "$target_sql" ] || { log "insight-grid local --sql printed no SQL endpoint"; exit 1; }
		;;
	esac
	log "$target on 127.0.0.1:$target_port${target_sql:+, SQL $target_sql}"
	result[$target]=$(run_target "$target")
	stop_pid "$target_pid"
done

# ---- summary ---------------------------------------------------------------------------------

echo
echo "== summary: N=$rows products (ratio = grid/redis; target: write rows/s >= 1.0 with ha off, ha on beside it)"
echo "load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores;" \
	"grid: $partitions partitions; redis: $(redis-server --version | awk '{ print $3 }')"
printf '%-8s %10s %6s %10s %6s %10s %6s %9s %9s %9s %6s  %s\n' into write_r/s ratio job_r/s ratio read_r/s ratio \
	save_s first_log read_s load target
for target in redis grid grid-ha; do
	verdict_text=
	[ "$target" != grid ] || verdict_text=">= 1.0: $(verdict "$(awk -v g="${result[grid]}" -v r="${result[redis]}" \
		'BEGIN { split(g, a, " "); split(r, b, " "); print a[1] / b[1] }')" ">=" 1.0)"
	awk -v g="${result[$target]}" -v r="${result[redis]}" -v t="$target" -v v="$verdict_text" 'BEGIN {
		split(g, a, " "); split(r, b, " ")
		printf "%-8s %10d %6.2f %10d %6.2f %10d %6.2f %8.1fs %8.1fs %8.1fs %6s  %s\n", t, a[1], a[1] / b[1], a[2],
			(b[2] > 0 ? a[2] / b[2] : 0), a[3], (b[3] > 0 ? a[3] / b[3] : 0), a[4] / 1000, a[5] / 1000, a[6] / 1000, a[7], v }'
done
echo "write_r/s: N / SaveProducts' save() time (it prints it); job_r/s: N / Spark's write job;" \
	"read_r/s: N / CountProducts' query time (it prints it); save_s, read_s: each spark-submit's wall time;" \
	"first_log: spark-submit's start to the driver's first log line (local mode)"
log "done in ${SECONDS}s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
