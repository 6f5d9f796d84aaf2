#!/usr/bin/env bash
# Start the local Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler (all on 127.0.0.1), kwok with 3 fake nodes over 3 zones, and the test-only
# node agent with 3 nodes over 3 zones whose pods run for real as processes.
# Idempotent: when the cluster is already up it only prints how to reach it.
# On any failure it stops what it started and says what was missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

NODES=${INSIGHT_NODES:-3}
KCM_PORT=${INSIGHT_KCM_PORT:-20257}
SCHED_PORT=${INSIGHT_SCHEDULER_PORT:-20259}
KWOK_PORT=${INSIGHT_KWOK_PORT:-20247}
# Each node agent node serves the kubelet API on its own address 127.1.<i>.1 at this port.
KUBELET_PORT=${INSIGHT_KUBELET_PORT:-10250}
VERSION=${VERSION:-0.1.0}
IMAGE_TAR=${INSIGHT_IMAGE_TAR:-$repo/bin/images/insight-grid-$VERSION.tar}
# The Spark image (make image-spark) is offered to the node agent too when it is built.
SPARK_IMAGE_TAR=${INSIGHT_SPARK_IMAGE_TAR:-$repo/bin/images/insight-spark-$VERSION.tar}
# INSIGHT_NODE_AGENT=0 starts the control plane and the kwok nodes only (no root needed,
# nothing runs for real): enough for scheduling and chart tests.
NODE_AGENT=${INSIGHT_NODE_AGENT:-1}
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
[ "$NODE_AGENT" = 0 ] || COMPONENTS+=(nodeagent)

running() { [ -f "$RUN_DIR/$1.pid" ] && kill -0 "$(cat "$RUN_DIR/$1.pid")" 2>/dev/null; }
apiserver_ready() {
	curl -sf --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
		"https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null
}
kubectl() { "$TOOLS_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

summary() {
	cat <<MSG
Local cluster is up (Kubernetes $K8S_VERSION on 127.0.0.1:$APISERVER_PORT).
  export KUBECONFIG=$KUBECONFIG_PATH
  export PATH=$TOOLS_BIN:\$PATH     # kubectl, helm
  logs: $LOG_DIR   pod logs: $CLUSTER_DIR/nodeagent/logs
MSG
}

all=1
for c in "${COMPONENTS[@]}"; do running "$c" || all=0; done
if [ "$all" = 1 ] && apiserver_ready; then
	summary
	exit 0
fi
up=() down=()
for c in "${COMPONENTS[@]}"; do
	if running "$c"; then up+=("$c"); else down+=("$c"); fi
done
if [ ${#up[@]} -gt 0 ]; then
	die "the cluster is partly running (${up[*]} up; ${down[*]} not): run 'make cluster-down' first"
fi

need_cmd openssl openssl
need_cmd curl curl
need_cmd go "golang (Go 1.26)"
if [ "$NODE_AGENT" != 0 ]; then
	[ "$(id -u)" = 0 ] || die "the node agent runs pods in mount namespaces and needs root (run as root, or set INSIGHT_NODE_AGENT=0 for fake nodes only)"
	[ -f "$IMAGE_TAR" ] || die "grid image $IMAGE_TAR not found: run 'make image' first"
fi
for p in "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$KCM_PORT" "$SCHED_PORT" "$KWOK_PORT"; do
	port_free "$p"
done

"$here/build.sh"
mkdir -p "$RUN_DIR" "$LOG_DIR" "$CLUSTER_DIR/bin"
trap 'log "cluster-up failed; stopping what it started (logs in $LOG_DIR)"; "$here/down.sh" >/dev/null 2>&1 || true' ERR
start=$(date +%s.%N)

if [ "$NODE_AGENT" != 0 ]; then
	log "building the node agent"
	(cd "$repo" && CGO_ENABLED=0 go build -o "$CLUSTER_DIR/bin/nodeagent" ./e2e/nodeagent)
fi

"$here/pki.sh" "$PKI_DIR" "$APISERVER_PORT" "$KUBECONFIG_PATH"

# spawn NAME CMD...: start CMD in its own process group, record its PID.
spawn() {
	local name=$1; shift
	setsid "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN_DIR/$name.pid"
}
alive_or_die() { running "$1" || { tail -n 20 "$LOG_DIR/$1.log" >&2; die "$1 exited during start (log: $LOG_DIR/$1.log)"; }; }

rm -rf "$RUN_DIR/etcd-data"
spawn etcd "$TOOLS_BIN/etcd" --name insight-local --data-dir "$RUN_DIR/etcd-data" \
	--listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
	--initial-cluster "insight-local=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
	--unsafe-no-fsync --quota-backend-bytes=2147483648
wait_for 30 etcd curl -sf "http://127.0.0.1:$ETCD_CLIENT_PORT/health" || { alive_or_die etcd; die "etcd not healthy after 30s"; }

P=$PKI_DIR
spawn kube-apiserver "$TOOLS_BIN/kube-apiserver" \
	--etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
	--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
	--tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
	--kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
	--kubelet-certificate-authority="$P/ca.crt" --kubelet-preferred-address-types=InternalIP \
	--service-account-issuer=https://kubernetes.default.svc.cluster.local \
	--service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
	--service-cluster-ip-range=10.96.0.0/24 --authorization-mode=Node,RBAC \
	--enable-admission-plugins=NodeRestriction --profiling=false
wait_for 120 kube-apiserver apiserver_ready || { alive_or_die kube-apiserver; die "kube-apiserver not ready after 120s"; }

K=$KUBECONFIG_PATH
spawn kube-controller-manager "$TOOLS_BIN/kube-controller-manager" --kubeconfig="$K" \
	--authentication-kubeconfig="$K" --authorization-kubeconfig="$K" \
	--bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
	--service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --use-service-account-credentials=true \
	--cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
	--service-cluster-ip-range=10.96.0.0/24 --controllers='*'
spawn kube-scheduler "$TOOLS_BIN/kube-scheduler" --kubeconfig="$K" \
	--authentication-kubeconfig="$K" --authorization-kubeconfig="$K" \
	--bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --leader-elect=false
wait_for 60 kube-controller-manager curl -sfk "https://127.0.0.1:$KCM_PORT/healthz" || { alive_or_die kube-controller-manager; die "kube-controller-manager not healthy"; }
wait_for 60 kube-scheduler curl -sfk "https://127.0.0.1:$SCHED_PORT/healthz" || { alive_or_die kube-scheduler; die "kube-scheduler not healthy"; }

# kwok: fake nodes that never run anything, tainted so only pods that ask for them land there.
spawn kwok "$TOOLS_BIN/kwok" --kubeconfig="$K" --server-address="127.0.0.1:$KWOK_PORT" \
	--manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
	--manage-nodes-with-label-selector= --manage-single-node= \
	--cidr=127.2.0.1/24 --node-ip=127.2.0.1 --node-lease-duration-seconds=40
zones=(zone-a zone-b zone-c)
for i in $(seq 0 $((NODES - 1))); do
	cat <<EOY
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64, type: kwok, topology.kubernetes.io/zone: ${zones[$((i % 3))]}}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
status:
  allocatable: {cpu: "8", memory: 16Gi, ephemeral-storage: 100Gi, pods: "110"}
  capacity: {cpu: "8", memory: 16Gi, ephemeral-storage: 100Gi, pods: "110"}
---
EOY
done | kubectl apply -f - >/dev/null

if [ "$NODE_AGENT" != 0 ]; then
	images=(--image="$IMAGE_TAR")
	[ ! -f "$SPARK_IMAGE_TAR" ] || images+=(--image="$SPARK_IMAGE_TAR")
	spawn nodeagent "$CLUSTER_DIR/bin/nodeagent" --kubeconfig="$K" --state-dir="$CLUSTER_DIR/nodeagent" \
		--nodes="$NODES" "${images[@]}" --cpu=16 --memory=64Gi --ephemeral-storage=100Gi --backoff-base=1s --backoff-max=20s \
		--kubelet-port="$KUBELET_PORT" --client-ca-file="$P/ca.crt"
fi
kubectl wait --for=condition=Ready node --all --timeout=60s >/dev/null ||
	{ alive_or_die kwok; alive_or_die nodeagent; die "nodes not Ready after 60s"; }
if [ "$NODE_AGENT" != 0 ]; then
	# Each node's kubelet API answers the API server's client certificate. (The API server's
	# node proxy refuses loopback node addresses; logs, exec and port-forward do not check.)
	kubelet_ready() {
		curl -sf --cacert "$P/ca.crt" --cert "$P/apiserver-kubelet-client.crt" --key "$P/apiserver-kubelet-client.key" \
			"https://127.1.0.1:$KUBELET_PORT/healthz" >/dev/null
	}
	wait_for 60 "kubelet API" kubelet_ready ||
		{ alive_or_die nodeagent; die "the node agent's kubelet API on 127.1.0.1:$KUBELET_PORT does not answer (log: $LOG_DIR/nodeagent.log)"; }
fi
wait_for 60 "default ServiceAccount" kubectl get serviceaccount default -n default ||
	die "the default ServiceAccount was not created (kube-controller-manager log: $LOG_DIR/kube-controller-manager.log)"
trap - ERR
log "cluster up in $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}")s"
summary
