#!/usr/bin/env bash
# Static checks: gofmt, go vet, golangci-lint (pinned, built by ci/tools.sh), and
# helm lint --strict of every chart with every profile, with the real helm binary.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. e2e/cluster/lib.sh
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"
go vet ./...
"$INSIGHT_CACHE/tools/golangci-lint-v2.15.0/golangci-lint" run --timeout 10m ./...
if [ -f charts/insight/Chart.yaml ]; then
	export HELM_CACHE_HOME=$INSIGHT_CACHE/helm/cache HELM_CONFIG_HOME=$INSIGHT_CACHE/helm/config HELM_DATA_HOME=$INSIGHT_CACHE/helm/data
	for chart in charts/*/Chart.yaml templates/*/Chart.yaml; do
		"$TOOLS_BIN/helm" lint --strict --quiet "$(dirname "$chart")" >/dev/null
	done
	for profile in values/*.yaml; do
		"$TOOLS_BIN/helm" lint --strict --quiet charts/insight -f "$profile" >/dev/null
	done
	log "helm lint --strict: $(ls charts/*/Chart.yaml templates/*/Chart.yaml | wc -l) charts, $(ls values/*.yaml | wc -l) profiles clean"
fi
