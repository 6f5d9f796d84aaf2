# shellcheck shell=bash
# Shared settings for the local-cluster scripts. Source it; it sets no shell options.
# Everything lives under one cache directory outside the work tree, keyed by version,
# so a warm `make cluster-up` only starts processes.

K8S_VERSION=v1.34.4                 # k8s.io/kubernetes; staging modules are v0.34.4
HELM_VERSION=v3.19.5                # shares the k8s v0.34 module graph
KWOK_VERSION=v0.7.0                 # built in its own module graph
INSIGHT_CACHE=${INSIGHT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/insight}
# The Prometheus Operator's CRDs (PodMonitor, ServiceMonitor, PrometheusRule), taken from its
# module on the Go proxy, for the e2e test of the Prometheus add-on.
PROMETHEUS_OPERATOR_VERSION=v0.85.0
PROMETHEUS_CRDS_DIR=$INSIGHT_CACHE/crds/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION
# Prometheus itself for that test, built from its module (v0.316.0 is Prometheus 3.16.0)
# with the Kubernetes service discovery only: Debian's package is built without it.
PROMETHEUS_MODULE_VERSION=v0.316.0
PROMETHEUS_VERSION=3.16.0
PROMETHEUS_BIN=$INSIGHT_CACHE/tools/prometheus-$PROMETHEUS_VERSION/prometheus
# Istio's CRDs (from istio.io/api) and its analyzer, istioctl, for the e2e test of the Istio
# add-on. istio.io/istio has only pseudo-versions on the Go proxy; this one is pinned.
ISTIO_API_VERSION=v1.32.0
ISTIO_CRDS=$INSIGHT_CACHE/crds/istio-api-$ISTIO_API_VERSION/customresourcedefinitions.gen.yaml
ISTIO_MODULE_VERSION=v0.0.0-20260827124520-eed52ebb66ad
ISTIOCTL_BIN=$INSIGHT_CACHE/tools/istioctl-$ISTIO_MODULE_VERSION/istioctl
TOOLS_BIN_REV=2                     # bump when build.sh changes what it builds
TOOLS_KEY=k8s-${K8S_VERSION}_helm-${HELM_VERSION}_kwok-${KWOK_VERSION}_r${TOOLS_BIN_REV}
TOOLS_BIN=$INSIGHT_CACHE/tools/$TOOLS_KEY/bin
CLUSTER_DIR=${INSIGHT_CLUSTER_DIR:-$INSIGHT_CACHE/cluster}
PKI_DIR=$CLUSTER_DIR/pki
RUN_DIR=$CLUSTER_DIR/run
LOG_DIR=$CLUSTER_DIR/logs
KUBECONFIG_PATH=$CLUSTER_DIR/kubeconfig
APISERVER_PORT=${INSIGHT_APISERVER_PORT:-16443}
ETCD_CLIENT_PORT=${INSIGHT_ETCD_PORT:-12379}
ETCD_PEER_PORT=$((ETCD_CLIENT_PORT + 1))

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# need_cmd CMD PACKAGE: fail fast naming the Debian package that provides CMD.
need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install the Debian package '$2' (make tools does it)"
}

# port_free PORT: fail if something already listens on 127.0.0.1:PORT.
port_free() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		die "port 127.0.0.1:$1 is in use by another process; stop it or set the INSIGHT_*_PORT variable"
	fi
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2s until it succeeds.
wait_for() {
	local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
	log "$what ready"
}
