#!/usr/bin/env bash
# Build the shipped binaries: static, trimmed, version injected.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${VERSION:-0.1.0}
export CGO_ENABLED=0
mkdir -p bin
go build -trimpath -ldflags "-s -w -X github.com/insightgrid/insight/grid/version.Version=$VERSION" -o bin/insight-grid ./grid/cmd/insight-grid
if [ -d cli/cmd/insightctl ]; then
	go build -trimpath -ldflags "-s -w -X github.com/insightgrid/insight/cli/version.Version=$VERSION" -o bin/insightctl ./cli/cmd/insightctl
fi
