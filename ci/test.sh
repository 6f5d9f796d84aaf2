#!/usr/bin/env bash
# Everything CI runs, in order; the README's test command (`make test`) and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ds)\n' "$1" $(( $(date +%s) - start )); }
step "tools";  ci/tools.sh
# The insight-spark image e2e runs is built while lint and unit run: built cold, it is
# mostly downloads (Debian packages, Spark, Maven jars), about 7.5 minutes; cached, a
# relink. ci/e2e.sh builds it again only if this did not finish it.
spark_log=$(mktemp)
setsid ci/spark-image.sh >"$spark_log" 2>&1 &
spark_pid=$!
# A failed step ends the build too (its own process group: the script and its downloads).
trap 'kill -- "-$spark_pid" 2>/dev/null || true; rm -f "$spark_log"' EXIT
step "lint";   ci/lint.sh
step "unit";   ci/unit.sh
step "spark image"
if ! wait "$spark_pid"; then
	cat "$spark_log" >&2
	echo "ci/test.sh: ci/spark-image.sh failed (its output is above)" >&2
	exit 1
fi
tail -n 3 "$spark_log"
step "e2e";    ci/e2e.sh
step "done"
