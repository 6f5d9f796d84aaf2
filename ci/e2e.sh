#!/usr/bin/env bash
# End-to-end tests on the local cluster. Starts the cluster when it is not up, and then
# also stops it at the end; a cluster that was already up is left running.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. e2e/cluster/lib.sh
ci/build.sh
ci/image.sh
ci/spark-image.sh
started=0
if ! [ -f "$RUN_DIR/kube-apiserver.pid" ] || ! kill -0 "$(cat "$RUN_DIR/kube-apiserver.pid")" 2>/dev/null; then
	e2e/cluster/up.sh
	started=1
fi
cleanup() { if [ "$started" = 1 ]; then e2e/cluster/down.sh; fi; }
trap cleanup EXIT
# Built as ci/build.sh and ci/lint.sh build (static, -trimpath): their packages are reused.
INSIGHT_E2E=1 INSIGHT_KUBECONFIG=$KUBECONFIG_PATH INSIGHT_PROMETHEUS_CRDS=$PROMETHEUS_CRDS_DIR INSIGHT_PROMETHEUS_BIN=$PROMETHEUS_BIN INSIGHT_ISTIO_CRDS=$ISTIO_CRDS INSIGHT_ISTIOCTL=$ISTIOCTL_BIN INSIGHT_TOOLS_BIN=$TOOLS_BIN INSIGHT_BIN=$repo/bin \
	CGO_ENABLED=0 GOFLAGS="-trimpath ${GOFLAGS:-}" go test -count=1 -timeout 25m -v ./e2e/... 2>&1 | tee "$LOG_DIR/e2e.log"
