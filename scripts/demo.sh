#!/usr/bin/env bash
# The demo on the one-machine lab: setup, lab up, then show both agents.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB="$ROOT/scripts/lab.sh"
bash "$ROOT/scripts/setup.sh" >/dev/null
bash "$LAB" up
bash "$LAB" status
