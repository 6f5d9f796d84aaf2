#!/usr/bin/env bash
# make image: the insight-grid OCI image, built without a container engine. Builds the
# static linux/amd64 binary into bin/insight-grid, then ci/mkimage packs it (empty base,
# UID 65532, CA certificates from this host) into bin/images/:
#   insight-grid-$VERSION.tar      docker-archive compatible (docker load, crane push, node agent)
#   insight-grid-$VERSION-oci/     OCI image layout (skopeo copy oci:...)
#   insight-grid-$VERSION.oci.tar  OCI archive (skopeo copy oci-archive:...)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-0.1.0}
mkdir -p bin/images
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath \
	-ldflags "-s -w -X github.com/insightgrid/insight/grid/version.Version=$VERSION" \
	-o bin/insight-grid ./grid/cmd/insight-grid
go run ./ci/mkimage --binary bin/insight-grid --version "$VERSION" --out bin/images
