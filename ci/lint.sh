#!/usr/bin/env bash
# Static checks: gofmt, go vet, golangci-lint (pinned, built by ci/tools.sh), and
# helm lint --strict of every chart with every profile, with the real helm binary.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. e2e/cluster/lib.sh
unformatted=$(gofmt -l $(git ls-files '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"
# Static and -trimpath, as ci/build.sh builds the binaries and ci/e2e.sh the e2e tests, so
# what vet and golangci-lint compile from cold is reused by those from the build cache.
export CGO_ENABLED=0 GOFLAGS="-trimpath ${GOFLAGS:-}"
go vet ./...
"$INSIGHT_CACHE/tools/golangci-lint-v2.15.0/golangci-lint" run --timeout 10m ./...
if [ -f charts/insight/Chart.yaml ]; then
	export HELM_CACHE_HOME=$INSIGHT_CACHE/helm/cache HELM_CONFIG_HOME=$INSIGHT_CACHE/helm/config HELM_DATA_HOME=$INSIGHT_CACHE/helm/data
	# helm notes each dependency symlink on stderr (charts/insight/README.md explains them).
	quiet_helm() { "$TOOLS_BIN/helm" "$@" 2> >(grep -v 'found symbolic link in path' >&2) >/dev/null; }
	# A chart's ci/*-values.yaml (chart-testing's convention) holds what lint needs to render
	# it: helm lint cannot pass --api-versions, which insight-prometheus requires.
	for chart in charts/*/Chart.yaml templates/*/Chart.yaml; do
		dir=$(dirname "$chart") lint_values=()
		for f in "$dir"/ci/*-values.yaml; do [ -f "$f" ] && lint_values+=(-f "$f"); done
		quiet_helm lint --strict --quiet "$dir" "${lint_values[@]}"
	done
	for profile in values/*.yaml; do
		quiet_helm lint --strict --quiet charts/insight -f "$profile"
	done
	log "helm lint --strict: $(ls charts/*/Chart.yaml templates/*/Chart.yaml | wc -l) charts, $(ls values/*.yaml | wc -l) profiles clean"
fi
