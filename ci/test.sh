#!/usr/bin/env bash
# Everything CI runs, in order; the README's test command (`make test`) and .ci/run call this.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ds)\n' "$1" $(( $(date +%s) - start )); }
step "tools";  ci/tools.sh
step "lint";   ci/lint.sh
step "unit";   ci/unit.sh
step "e2e";    ci/e2e.sh
step "done"
