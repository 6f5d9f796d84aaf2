#!/usr/bin/env bash
# Build the local cluster's binaries from the Go module proxy, nothing prebuilt downloaded:
# etcd (the release line in the k8s module graph), kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl and helm in one wrapper module whose replace lines map every k8s.io
# staging module to its published v0.x tag; kwok in its own graph (v0.7.0 does not compile
# against the v0.34 libraries). Output is cached under $INSIGHT_CACHE keyed by version.
#
# Usage: build.sh [helm]. With `helm`, only helm (what ci/lint.sh needs), so CI can lint
# while the rest is built in the background; the packages it compiled are reused by the
# full build from the build cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

case "${1:-all}" in
helm) wanted=(helm) ;;
all) wanted=(helm etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok) ;;
*) die "build.sh: unknown argument '$1' (allowed: helm, or nothing for every binary)" ;;
esac
missing=()
for b in "${wanted[@]}"; do
	[ -x "$TOOLS_BIN/$b" ] || missing+=("$b")
done
[ ${#missing[@]} -gt 0 ] || exit 0
need_cmd go "golang (Go 1.26)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
work=$INSIGHT_CACHE/tools/$TOOLS_KEY/wrap
tmp=$INSIGHT_CACHE/tools/$TOOLS_KEY/bin.tmp.$$
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$work" "$tmp" "$TOOLS_BIN"
cd "$work"
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
kmod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
staging=v0${K8S_VERSION#v1}
major=${K8S_VERSION#v}; major=${major%%.*}; minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
{
	printf 'module local/insight-k8s-tools\n\ngo 1.24.0\n\ngodebug default=go1.24\n\nrequire (\n'
	printf '\tk8s.io/kubernetes %s\n\thelm.sh/helm/v3 %s\n)\n\nreplace (\n' "$K8S_VERSION" "$HELM_VERSION"
	sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$kmod"
	echo ")"
} >go.mod.tmp
# Rewritten only when it changes, so a concurrent reader never sees half a file.
cmp -s go.mod.tmp go.mod 2>/dev/null && rm go.mod.tmp || mv go.mod.tmp go.mod
# Without the version ldflags the apiserver reports v0.0.0-master and kubeVersion checks break.
ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
# helm template/lint assume this Kubernetes version when not talking to a cluster.
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
	ld="$ld -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
done
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
	ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
declare -A pkg=(
	[helm]=helm.sh/helm/v3/cmd/helm [etcd]=go.etcd.io/etcd/server/v3
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
	[kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler [kubectl]=k8s.io/kubernetes/cmd/kubectl
)
pkgs=()
for b in "${missing[@]}"; do
	[ "$b" = kwok ] || pkgs+=("${pkg[$b]}")
done
if [ ${#pkgs[@]} -gt 0 ]; then
	log "building ${missing[*]} (cold, all seven: ~10 min)"
	go build -trimpath -ldflags="$ld" -o "$tmp/" "${pkgs[@]}"
	[ ! -f "$tmp/server" ] || mv "$tmp/server" "$tmp/etcd"
fi
if [[ " ${missing[*]} " == *" kwok "* ]]; then
	log "building kwok $KWOK_VERSION"
	GOBIN=$tmp GOFLAGS= go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
# Each binary lands whole (a rename), so a reader sees it entirely or not at all.
for b in "${missing[@]}"; do
	mv "$tmp/$b" "$TOOLS_BIN/$b"
done
log "built ${missing[*]} in $(( $(date +%s) - start ))s into $TOOLS_BIN"
