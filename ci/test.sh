#!/usr/bin/env bash
# Everything CI runs, in order; the README's test command (`make test`) and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ds)\n' "$1" $(( $(date +%s) - start )); }

# Work that only later steps need runs in the background, each job in its own process
# group (the script and its downloads) with its output in a file shown if it fails:
#   - the Redis clients unit's grid/itest drives (npm, PyPI, Maven Central: downloads);
#   - what only e2e needs: the cluster binaries, Prometheus and istioctl built from the Go
#     module proxy (cold, about 10 minutes of downloads and compiling), and the
#     insight-spark image (cold, mostly downloads: about 4–7 minutes).
# Cached, each of them only checks its cache. A failed step ends the build and them too.
declare -A bg_pid bg_log
bg() {
	local name=$1; shift
	bg_log[$name]=$(mktemp)
	# Niced: lint and unit keep the cores. setsid gives the job its own session, and so,
	# where the kernel schedules by autogroup (sched_autogroup_enabled), its own CPU group,
	# which a process's nice does not reach: the group's nice is raised too.
	setsid bash -c 'echo 10 >/proc/self/autogroup 2>/dev/null || true; exec nice -n 10 "$@"' bg "$@" >"${bg_log[$name]}" 2>&1 &
	bg_pid[$name]=$!
}
bg_wait() {
	local name=$1
	if ! wait "${bg_pid[$name]}"; then
		cat "${bg_log[$name]}" >&2
		echo "ci/test.sh: $name failed (its output is above)" >&2
		exit 1
	fi
	tail -n 3 "${bg_log[$name]}"
}
cleanup() {
	for name in "${!bg_pid[@]}"; do kill -- "-${bg_pid[$name]}" 2>/dev/null || true; done
	rm -f "${bg_log[@]}"
}
trap cleanup EXIT

step "tools";  ci/tools.sh unit
bg clients ci/clients.sh
bg "e2e tools" ci/tools.sh e2e
bg "spark image" ci/spark-image.sh
step "lint";   ci/lint.sh
step "clients"; bg_wait clients
step "unit";   ci/unit.sh
step "e2e tools"; bg_wait "e2e tools"
step "spark image"; bg_wait "spark image"
step "e2e";    ci/e2e.sh
step "done"
