#!/usr/bin/env bash
# Unit and integration tests that need no cluster (the e2e package skips itself here).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Redis client libraries grid/itest TestRedisClients drives (cached; a warm run only hashes).
ci/clients.sh
go test -race -count=1 -timeout 20m ./...
