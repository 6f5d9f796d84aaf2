#!/usr/bin/env bash
# Unit and integration tests that need no cluster (the e2e package skips itself here).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -race -count=1 -timeout 20m ./...
