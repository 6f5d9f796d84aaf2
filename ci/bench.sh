#!/usr/bin/env bash
# Benchmarks. Each prints its figures next to an anchor measured in the same run and the
# ratio between them; none of them asserts on time.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/tools.sh
ci/build.sh
for b in ci/bench-*.sh; do
	printf '\n==> %s\n' "$b"
	"$b"
done
