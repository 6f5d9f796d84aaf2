#!/usr/bin/env bash
# make image: the insight-grid OCI image, built without a container engine. Builds the
# static linux/amd64 binaries into bin/ (insight-grid, the entrypoint, and insight-sql, the
# SQL role, whose pods name /insight-sql as their command), then ci/mkimage packs them
# (empty base, UID 65532, CA certificates from this host) into bin/images/:
#   insight-grid-$VERSION.tar      docker-archive compatible (docker load, crane push, node agent)
#   insight-grid-$VERSION-oci/     OCI image layout (skopeo copy oci:...)
#   insight-grid-$VERSION.oci.tar  OCI archive (skopeo copy oci-archive:...)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-0.1.0}
mkdir -p bin/images
binaries=(insight-grid)
# insight-sql goes in whenever its package is in the tree; a tree without it (before the
# SQL role existed) still builds the grid-only image.
if [ -d grid/cmd/insight-sql ]; then
	binaries+=(insight-sql)
fi
args=()
for b in "${binaries[@]}"; do
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath \
		-ldflags "-s -w -X github.com/insightgrid/insight/grid/version.Version=$VERSION" \
		-o "bin/$b" "./grid/cmd/$b"
	args+=(--binary "bin/$b")
done
echo "image.sh: binaries in the image: ${binaries[*]}" >&2
go run ./ci/mkimage "${args[@]}" --version "$VERSION" --out bin/images
