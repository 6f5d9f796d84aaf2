# shellcheck shell=bash
# The start of the grid benchmarks (ci/bench-ha.sh, ci/bench-rolling.sh,
# ci/bench-repartition.sh): `. ci/lib/bench.sh CMD...` checks that each CMD is installed,
# sources ci/lib/procs.sh, ports.sh and grid.sh, and builds insight-grid and loadgen into
# $work. Needs the caller's log function; sets no shell options.

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
