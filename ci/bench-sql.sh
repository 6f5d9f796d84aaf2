#!/usr/bin/env bash
# SQL benchmark (make bench): the SQL endpoint of `insight-grid local --partitions 3 --sql`
# (insight-sql in front of three data instances) against a MariaDB server started in the
# same run, with the same table size and the same clients, as grid/MariaDB ratios. Two parts:
#
# 1. sysbench: Debian's sysbench 1.0.20 and its MySQL driver, `oltp_point_select` and
#    `oltp_read_only` (prepared statements, one table of BENCH_SQL_ROWS rows that
#    `sysbench prepare` creates through each server), BENCH_SQL_THREADS threads for
#    BENCH_SQL_SECONDS each: queries/s, transactions/s, p95 latency (ms) and the server's
#    CPU time per query (user+system from /proc/PID/stat around the run: the endpoint and
#    the three data instances for the grid, and in sql_us the endpoint's share alone). A
#    sysbench error fails the run.
# 2. group-by: the table items (id BIGINT PRIMARY KEY, category VARCHAR(16), price
#    DECIMAL(10,2)) of BENCH_SQL_ROWS rows (16 categories), loaded through each server's
#    SQL port by the mariadb client with the same multi-row INSERTs of 1000 rows (on the grid
#    each row is the spark-redis hash items:<id>); the load time is printed. Then
#    `SELECT category, count(*), avg(price) FROM items GROUP BY category` timed by the
#    client's wall clock, BENCH_SQL_QUERY_RUNS times against each server, median. The two
#    servers' answers must agree (counts exactly, averages to the cent), else the run fails.
#
# MariaDB is Debian's mariadb-server 10.11: `mariadb-install-db` into a directory under the
# scratch directory, `mariadbd --no-defaults` on a free loopback port (no binary log, an
# InnoDB buffer pool of 1 GiB so the tables are in memory as the grid's are, the query
# cache off as 10.11 has it), stopped by its PID at the end. sysbench and mariadb-server are
# installed here if missing (apt, as ci/tools.sh installs its packages, so ci/test.sh does
# not pay for them); the system service the package enables is disabled.
#
# Each measurement runs against the grid then MariaDB and prints the load average next to
# its figures. Targets: point-select queries/s >= 1.0x MariaDB, GROUP BY time <= 1.0x.
# Not a timed test: the numbers are for reading; the exit code says only that the run worked
# (a server that did not start, a sysbench or client error, answers that disagree, a step
# cut off by the time budget). Every step runs under `timeout` with what is left of
# BENCH_SQL_BUDGET seconds (counted from the start, the build and installs included). Stops
# only the processes it started.
#
# Environment: BENCH_SQL_ROWS (1000000), BENCH_SQL_THREADS (16), BENCH_SQL_SECONDS (10),
# BENCH_SQL_QUERY_RUNS (3), BENCH_SQL_BUDGET (300 + 1 per 500 rows), BENCH_GRID_BIN,
# BENCH_SQL_PROFILE (a directory: `perf record -g` of insight-sql during the grid's point
# selects into DIR/point_select.data and its top functions into DIR/point_select.txt; perf
# slows the endpoint, so that run's figures are not comparable with others).
set -euo pipefail
cd "$(dirname "$0")/.."

rows=${BENCH_SQL_ROWS:-1000000}
threads=${BENCH_SQL_THREADS:-16}
secs=${BENCH_SQL_SECONDS:-10}
query_runs=${BENCH_SQL_QUERY_RUNS:-3}
budget=${BENCH_SQL_BUDGET:-$((300 + rows / 500))}
profile_dir=${BENCH_SQL_PROFILE:-}

log() { printf 'bench-sql: %s\n' "$*" >&2; }

for knob in "BENCH_SQL_ROWS=$rows" "BENCH_SQL_THREADS=$threads" "BENCH_SQL_SECONDS=$secs" "BENCH_SQL_QUERY_RUNS=$query_runs"; do
	[[ ${knob#*=} =~ ^[1-9][0-9]*$ ]] || { log "$knob: must be a positive integer"; exit 1; }
done
if [ -n "$profile_dir" ] && ! command -v perf >/dev/null; then
	log "BENCH_SQL_PROFILE=$profile_dir: perf is not installed (Debian: linux-perf)"
	exit 1
fi

# The benchmark's own Debian packages (command:package), installed as ci/tools.sh installs its.
sql_needs="sysbench:sysbench mariadbd:mariadb-server mariadb-install-db:mariadb-server mariadb:mariadb-client"
missing=()
for pair in $sql_needs; do
	PATH=$PATH:/usr/sbin command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || { log "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"; exit 1; }
	log "installing Debian packages: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The package enables a system MariaDB on 3306; the benchmark starts its own.
	if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mariadb >/dev/null 2>&1 || true; fi
fi
export PATH=$PATH:/usr/sbin

budget_var=BENCH_SQL_BUDGET
# shellcheck source=ci/lib/bench.sh
. ci/lib/bench.sh sysbench mariadbd mariadb-install-db mariadb redis-cli go timeout
CGO_ENABLED=0 go build -trimpath -o "$work/insight-sql" ./grid/cmd/insight-sql
unset GOMEMLIMIT # no maxmemory (the data instances inherit local's environment)
log "built in ${SECONDS}s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the servers -----------------------------------------------------------------------------

# start_mariadb: a MariaDB server of its own on a free loopback port, with the database
# insight and its user insight (no password), as the grid's endpoint has them. Sets
# maria_port and maria_pid.
start_mariadb() {
	local dir="$work/mariadb" user
	user=$(id -un)
	mkdir -p "$dir"
	bounded "mariadb-install-db" mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
		--auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 ||
		{ tail -5 "$dir/install.log" >&2; log "mariadb-install-db failed"; exit 1; }
	maria_port=$(free_port)
	mariadbd --no-defaults --datadir="$dir/data" --user="$user" --bind-address=127.0.0.1 --port="$maria_port" \
		--socket="$dir/mariadb.sock" --pid-file="$dir/mariadb.pid" --log-error="$dir/error.log" --skip-log-bin \
		--skip-name-resolve --innodb-buffer-pool-size=1G --max-connections=1000 2>"$dir/stderr.log" &
	maria_pid=$!
	pids+=("$maria_pid")
	for _ in $(seq 1 600); do
		mariadb -S "$dir/mariadb.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
		kill -0 "$maria_pid" 2>/dev/null || break
		sleep 0.05
	done
	mariadb -S "$dir/mariadb.sock" -uroot -e "CREATE DATABASE insight; CREATE USER insight@'%';
		GRANT ALL ON insight.* TO insight@'%'" || { tail -5 "$dir/error.log" >&2; log "MariaDB did not start"; exit 1; }
}

# sql_pid: the pid of the grid's SQL endpoint (local's child).
sql_pid() { pgrep -P "$grid_pid" -x insight-sql; }

# client WHAT PORT ARG...: Debian's mariadb client, as user insight on database insight,
# bounded (WHAT names the step).
client() {
	local what=$1 port=$2
	shift 2
	bounded "$what" mariadb -h127.0.0.1 -P"$port" -uinsight --skip-ssl -N -B insight "$@"
}

# ---- 1. sysbench -----------------------------------------------------------------------------

# sysbench_args PORT: the connection and table options.
sysbench_args() {
	echo --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$1" --mysql-user=insight --mysql-password= \
		--mysql-db=insight --tables=1 --table-size="$rows"
}

# run_sysbench SIDE PORT PIDS TEST: one sysbench run; prints "queries/s tps p95_ms cpu_us/query
# load first_us/query", first_us the first of PIDS' share (the grid's endpoint).
run_sysbench() {
	local t0 t1 f0 f1 out load perf_pid=
	load=$(load1)
	if [ -n "$profile_dir" ] && [ "$1" = grid ] && [ "$4" = oltp_point_select ]; then
		mkdir -p "$profile_dir"
		perf record -g -o "$profile_dir/point_select.data" -p "$(sql_pid)" -- sleep "$secs" >/dev/null 2>&1 &
		perf_pid=$!
		pids+=("$perf_pid")
	fi
	# shellcheck disable=SC2086 # $3 is a list
	t0=$(cpu_ticks $3)
	f0=$(cpu_ticks "${3%% *}")
	# shellcheck disable=SC2046 # sysbench_args is a list
	out=$(bounded "sysbench $4 against $1" sysbench "$4" $(sysbench_args "$2") --threads="$threads" \
		--time="$secs" --report-interval=0 run) || { echo "$out" | tail -5 >&2; log "sysbench $4 against $1 failed"; exit 1; }
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $3)
	f1=$(cpu_ticks "${3%% *}")
	if [ -n "$perf_pid" ]; then
		wait "$perf_pid" || true
		perf report -i "$profile_dir/point_select.data" --stdio --no-children 2>/dev/null | grep -v '^$' |
			head -200 >"$profile_dir/point_select.txt"
		log "profile of insight-sql during the point selects: $profile_dir/point_select.{data,txt}"
	fi
	awk -v cpu="$(((t1 - t0) * 1000000 / hz))" -v first="$(((f1 - f0) * 1000000 / hz))" -v ld="$load" '
		$1 == "queries:" { q = $2; gsub(/[(]/, "", $3); qps = $3 }
		$1 == "transactions:" { gsub(/[(]/, "", $3); tps = $3 }
		$1 == "95th" { p95 = $3 }
		END { if (q == 0) exit 1; printf "%.0f %.0f %s %.1f %s %.1f\n", qps, tps, p95, cpu / q, ld, first / q }' <<<"$out" ||
		{ log "sysbench $4 against $1: no queries ($out)"; exit 1; }
}

# ---- 2. GROUP BY -----------------------------------------------------------------------------

# items_sql: the items table and its rows as multi-row INSERTs of 1000 rows.
items_sql() {
	echo "DROP TABLE IF EXISTS items;"
	echo "CREATE TABLE items (id BIGINT PRIMARY KEY, category VARCHAR(16), price DECIMAL(10,2));"
	awk -v n="$rows" 'BEGIN {
		for (i = 1; i <= n; i++) {
			printf "%s(%d,\"c%02d\",%d.%02d)", (i % 1000 == 1 ? "INSERT INTO items (id, category, price) VALUES " : ","),
				i, i % 16, (i * 7919) % 1000, i % 100
			if (i % 1000 == 0 || i == n) print ";"
		} }'
}

group_by='SELECT category, count(*), avg(price) FROM items GROUP BY category'

# run_group_by SIDE PORT: loads items, then times the GROUP BY; prints "load_s median_ms load"
# and leaves the answer (averages to the cent, sorted) in $work/answer-SIDE.
run_group_by() {
	local t0 t1 n ms=() load load_s
	t0=$(date +%s%N)
	client "loading items into $1" "$2" <"$work/items.sql" || { log "loading items into $1 failed"; exit 1; }
	t1=$(date +%s%N)
	load_s=$(awk -v d="$((t1 - t0))" 'BEGIN { printf "%.1f", d / 1e9 }')
	load=$(load1)
	for n in $(seq 1 "$query_runs"); do
		t0=$(date +%s%N)
		client "the GROUP BY against $1" "$2" -e "$group_by" >"$work/groupby-$1.out" ||
			{ log "the GROUP BY against $1 failed"; exit 1; }
		t1=$(date +%s%N)
		ms+=($(((t1 - t0) / 1000000)))
	done
	awk -F'\t' '{ printf "%s %d %.2f\n", $1, $2, $3 }' "$work/groupby-$1.out" | sort >"$work/answer-$1"
	printf '%s\n' "${ms[@]}" | sort -n | awk -v l="$load_s" -v ld="$load" '{ a[NR] = $1 } END { print l, a[int((NR + 1) / 2)], ld }'
}

# ---- the run ---------------------------------------------------------------------------------

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
start_grid 3 --sql
grid_sql_port=$(sed -n 's/^sql mysql:\/\/.*:\([0-9]*\)$/\1/p' "$grid_out")
[ -n "$grid_sql_port" ] && [ -n "$(sql_pid)" ] || { log "insight-grid local --sql printed no SQL endpoint"; exit 1; }
grid_pids="$(sql_pid) $(awk '$1 ~ /^p[0-9]+-i[0-9]+$/ && $2 == "pid" { printf "%s ", $3 }' "$grid_out")"
start_mariadb
log "grid SQL on 127.0.0.1:$grid_sql_port, MariaDB $(mariadbd --version | awk '{ print $3 }') on 127.0.0.1:$maria_port"

echo "== sysbench: $rows rows, $threads threads, ${secs}s per run; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for side in grid mariadb; do
	port=$grid_sql_port
	[ "$side" = grid ] || port=$maria_port
	t0=$SECONDS
	# shellcheck disable=SC2046
	bounded "sysbench prepare against $side" sysbench oltp_point_select $(sysbench_args "$port") prepare >"$work/prepare-$side.log" 2>&1 ||
		{ tail -5 "$work/prepare-$side.log" >&2; log "sysbench prepare against $side failed"; exit 1; }
	log "sysbench prepare ($rows rows) against $side: $((SECONDS - t0))s"
done
printf '%-18s %10s %10s %6s %8s %8s %8s %8s %8s %8s %8s %6s %6s\n' test maria_q/s grid_q/s ratio maria_tps grid_tps \
	maria_p95 grid_p95 maria_us grid_us sql_us load_m load_g
summary=()
for test in oltp_point_select oltp_read_only; do
	g=$(run_sysbench grid "$grid_sql_port" "$grid_pids" "$test")
	m=$(run_sysbench mariadb "$maria_port" "$maria_pid" "$test")
	line=$(awk -v t="$test" -v m="$m" -v g="$g" 'BEGIN { split(m, a, " "); split(g, b, " ")
		printf "%-18s %10.0f %10.0f %6.2f %8.0f %8.0f %8.2f %8.2f %8.1f %8.1f %8.1f %6s %6s\n",
			t, a[1], b[1], b[1] / a[1], a[2], b[2], a[3], b[3], a[4], b[4], b[6], a[5], b[5] }')
	echo "$line"
	summary+=("$line")
done

echo "== group-by: $rows rows; load average $(cut -d' ' -f1-3 /proc/loadavg)"
items_sql >"$work/items.sql"
g=$(run_group_by grid "$grid_sql_port")
m=$(run_group_by mariadb "$maria_port")
if ! cmp -s "$work/answer-grid" "$work/answer-mariadb"; then
	diff "$work/answer-mariadb" "$work/answer-grid" >&2 || true
	log "the GROUP BY answers of MariaDB (<) and the grid (>) differ"
	exit 1
fi
printf '%-18s %10s %10s %6s %9s %9s %6s %6s\n' query maria_ms grid_ms ratio maria_ins grid_ins load_m load_g
gb_line=$(awk -v m="$m" -v g="$g" 'BEGIN { split(m, a, " "); split(g, b, " ")
	printf "%-18s %10d %10d %6.2f %8.1fs %8.1fs %6s %6s\n", "group-by", a[2], b[2], (a[2] > 0 ? b[2] / a[2] : 0), a[1], b[1], a[3], b[3] }')
echo "$gb_line"

stop_pid "$grid_pid"
stop_pid "$maria_pid"

# ---- summary ---------------------------------------------------------------------------------

echo
echo "== summary (ratio = grid/MariaDB; targets: point-select queries/s >= 1.0, GROUP BY time <= 1.0)"
echo "load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores;" \
	"$(sysbench --version); MariaDB $(mariadbd --version | awk '{ print $3 }'); $rows rows, $threads threads, ${secs}s per sysbench run"
printf '%-18s %10s %10s %6s  %s\n' test maria_q/s grid_q/s ratio target
for line in "${summary[@]}"; do
	target=
	[[ $line != oltp_point_select* ]] || target=">= 1.0: $(verdict "$(awk '{ print $4 }' <<<"$line")" ">=" 1.0)"
	awk -v t="$target" '{ printf "%-18s %10s %10s %6s  %s\n", $1, $2, $3, $4, t }' <<<"$line"
done
printf '%-18s %10s %10s %6s  %s\n' query maria_ms grid_ms ratio target
awk -v t="<= 1.0: $(verdict "$(awk '{ print $4 }' <<<"$gb_line")" "<=" 1.0)" \
	'{ printf "%-18s %10s %10s %6s  %s\n", $1, $2, $3, $4, t }' <<<"$gb_line"
echo "q/s: sysbench queries per second; ms: median wall time of $query_runs runs of: $group_by"
log "done in ${SECONDS}s; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
