#!/usr/bin/env bash
# insightctl start-up and render time against helm doing the same work in the same run:
# `insightctl version --client` vs `helm version --short`, and `insightctl template` of the
# whole suite (production profile) vs `helm template` of the same chart and values.
# Targets (docs/cli.md): version <= 50 ms, template <= 200 ms. Prints means over N runs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. e2e/cluster/lib.sh
N=${N:-20}
export HELM_CACHE_HOME=$INSIGHT_CACHE/helm/cache HELM_CONFIG_HOME=$INSIGHT_CACHE/helm/config HELM_DATA_HOME=$INSIGHT_CACHE/helm/data

# mean_ms CMD...: run CMD N times (after one warm-up), print the mean wall time in ms.
mean_ms() {
	"$@" >/dev/null 2>&1
	local start end
	start=$(date +%s%N)
	for _ in $(seq "$N"); do "$@" >/dev/null 2>&1; done
	end=$(date +%s%N)
	awk -v d=$((end - start)) -v n="$N" 'BEGIN { printf "%.1f", d / n / 1e6 }'
}
row() { # name ours anchor target
	awk -v n="$1" -v a="$2" -v b="$3" -v t="$4" 'BEGIN { printf "%-22s %10.1f %10.1f %7.2f %10s\n", n, a, b, a / b, t }'
}
printf '%-22s %10s %10s %7s %10s\n' benchmark insightctl helm ratio target_ms
row "version" "$(mean_ms bin/insightctl version --client)" "$(mean_ms "$TOOLS_BIN/helm" version --short)" 50
row "template production" \
	"$(mean_ms bin/insightctl template demo --profile production)" \
	"$(mean_ms "$TOOLS_BIN/helm" template demo charts/insight -f values/production.yaml)" 200
echo "bench-cli: mean of $N runs each, wall time in ms; ratio = insightctl / helm (lower is faster)"
