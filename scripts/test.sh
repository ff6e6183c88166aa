#!/usr/bin/env bash
# The whole test suite on a fresh or prepared host: setup, type check, unit tests, then the
# end-to-end tests in the one-machine lab. The lab is brought down at the end either way.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
echo "==> test: type check"
npx tsc --noEmit -p tsconfig.json
echo "==> test: unit tests"
npx vitest run --project unit
echo "==> test: end-to-end tests in the one-machine lab"
trap 'bash scripts/lab.sh down >/dev/null 2>&1 || true' EXIT
bash scripts/lab.sh up
npx vitest run --project e2e "$@"
