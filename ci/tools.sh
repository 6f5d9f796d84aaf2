#!/usr/bin/env bash
# Install what the build, the tests and the local cluster need, idempotently, versions pinned:
# Debian packages (Debian 12 "bookworm" versions), golangci-lint and kube-score built from
# the Go module proxy, and the cluster binaries (e2e/cluster/build.sh). Everything built is cached under
# $INSIGHT_CACHE (~/.cache/insight) keyed by version.
#
# Usage: tools.sh [unit|e2e]. `unit` installs what lint and the unit tests need (the Debian
# packages, golangci-lint, kube-score, helm), `e2e` what only the end-to-end tests need
# (the cluster binaries, Prometheus, istioctl, the CRDs), so CI builds the second while the
# first is in use; nothing (make tools) installs both.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/e2e/cluster/lib.sh"
phase=${1:-all}
case $phase in
unit | e2e | all) ;;
*) die "tools.sh: unknown phase '$phase' (allowed: unit, e2e, or nothing for both)" ;;
esac

GOLANGCI_LINT_VERSION=v2.15.0
# kube-score scores every profile's render in go test ./charts (TestKubeScore).
KUBE_SCORE_VERSION=v1.20.0
# command:package pairs; redis is 7.0.x on bookworm (the benchmark anchor and the CLI clients);
# prometheus is 2.42 on bookworm, for promtool, which checks and unit-tests the rules of
# charts/insight-prometheus in go test ./charts; its server lacks the Kubernetes service
# discovery, so the e2e test runs a Prometheus built below.
# chromium (156 on bookworm, as Debian pins it) is the headless browser grid/itest TestWebUI
# drives with playwright-core (ci/clients.sh): about 115 MB to download with its 24 libraries,
# 360 MB installed, 16 s on a fast mirror; no browser is ever downloaded by npm.
APT_NEEDS="openssl:openssl curl:curl setsid:util-linux redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools ip:iproute2 pgrep:procps promtool:prometheus mariadb:mariadb-client chromium:chromium"

unit_tools() {
	missing=()
	for pair in $APT_NEEDS; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
		log "installing Debian packages: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
		# The Debian packages start a system redis on 6379 and a Prometheus on 9090; the project
		# starts its own redis on free ports and only needs promtool.
		if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server prometheus >/dev/null 2>&1 || true; fi
	fi

	lint_bin=$INSIGHT_CACHE/tools/golangci-lint-$GOLANGCI_LINT_VERSION/golangci-lint
	if [ ! -x "$lint_bin" ]; then
		log "building golangci-lint $GOLANGCI_LINT_VERSION"
		GOFLAGS= GOBIN=$(dirname "$lint_bin") go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION"
	fi

	kube_score_bin=$INSIGHT_CACHE/tools/kube-score-$KUBE_SCORE_VERSION/kube-score
	if [ ! -x "$kube_score_bin" ]; then
		log "building kube-score $KUBE_SCORE_VERSION"
		GOFLAGS= GOBIN=$(dirname "$kube_score_bin") go install "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
	fi

	# ci/lint.sh runs helm lint.
	"$repo/e2e/cluster/build.sh" helm
}

e2e_tools() {
	if [ ! -f "$PROMETHEUS_CRDS_DIR/monitoring.coreos.com_prometheusrules.yaml" ]; then
		log "fetching the Prometheus Operator $PROMETHEUS_OPERATOR_VERSION CRDs from the Go module proxy"
		mod_dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		[ -d "$mod_dir/example/prometheus-operator-crd" ] || die "the prometheus-operator $PROMETHEUS_OPERATOR_VERSION module has no example/prometheus-operator-crd"
		mkdir -p "$PROMETHEUS_CRDS_DIR.tmp"
		for kind in podmonitors servicemonitors prometheusrules; do
			cp "$mod_dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$PROMETHEUS_CRDS_DIR.tmp/"
		done
		rm -rf "$PROMETHEUS_CRDS_DIR" && mv "$PROMETHEUS_CRDS_DIR.tmp" "$PROMETHEUS_CRDS_DIR"
	fi

	if [ ! -x "$PROMETHEUS_BIN" ]; then
		log "building Prometheus $PROMETHEUS_VERSION (Kubernetes service discovery only) from the Go module proxy"
		GOFLAGS= GOBIN=$(dirname "$PROMETHEUS_BIN") go install -tags remove_all_sd,enable_kubernetes_sd \
			-ldflags "-X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
			"github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION"
	fi

	if [ ! -f "$ISTIO_CRDS" ]; then
		log "fetching Istio's CRDs (istio.io/api $ISTIO_API_VERSION) from the Go module proxy"
		mod_dir=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "istio.io/api@$ISTIO_API_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		[ -f "$mod_dir/kubernetes/customresourcedefinitions.gen.yaml" ] || die "istio.io/api $ISTIO_API_VERSION has no kubernetes/customresourcedefinitions.gen.yaml"
		mkdir -p "$(dirname "$ISTIO_CRDS")"
		cp "$mod_dir/kubernetes/customresourcedefinitions.gen.yaml" "$ISTIO_CRDS.tmp" && mv "$ISTIO_CRDS.tmp" "$ISTIO_CRDS"
	fi

	if [ ! -x "$ISTIOCTL_BIN" ]; then
		log "building istioctl (istio.io/istio $ISTIO_MODULE_VERSION) from the Go module proxy"
		GOFLAGS= CGO_ENABLED=0 GOBIN=$(dirname "$ISTIOCTL_BIN") go install -trimpath -ldflags "-s -w" \
			"istio.io/istio/istioctl/cmd/istioctl@$ISTIO_MODULE_VERSION"
	fi

	"$repo/e2e/cluster/build.sh"
}

if [ "$phase" != e2e ]; then unit_tools; fi
if [ "$phase" != unit ]; then e2e_tools; fi
