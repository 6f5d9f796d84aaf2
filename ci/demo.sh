#!/usr/bin/env bash
# The README's first command: install what is missing, build, start the local Kubernetes,
# install the Insight suite on it with insightctl, and print how to reach it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. e2e/cluster/lib.sh
RELEASE=${RELEASE:-demo}
NAMESPACE=${NAMESPACE:-insight}
PROFILE=${PROFILE:-dev}

ci/tools.sh
ci/build.sh
ci/image.sh
e2e/cluster/up.sh
export KUBECONFIG=$KUBECONFIG_PATH
bin/insightctl install "$RELEASE" -n "$NAMESPACE" --create-namespace --profile "$PROFILE" --wait --timeout 5m
bin/insightctl status "$RELEASE" -n "$NAMESPACE"
cat <<MSG

The suite runs on the local cluster. Next:
  export KUBECONFIG=$KUBECONFIG_PATH PATH=$repo/bin:$TOOLS_BIN:\$PATH
  insightctl status $RELEASE -n $NAMESPACE
  kubectl get pods -n $NAMESPACE -o wide       # pod IPs are reachable from this machine
  redis-cli -c -h <a pu pod IP> -p 6379        # any data pod is a seed for cluster clients
  make cluster-down                            # stop everything
MSG
