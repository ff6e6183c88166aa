#!/usr/bin/env bash
# The demo on the one-machine lab: set up the host, bring the lab up, start a busybox counter on
# node1, move it to node2 with migrate-cli, and show that it counts on where it was.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB="$ROOT/scripts/lab.sh"

echo "==> demo: host setup (idempotent; the first run installs Docker and CRIU)"
bash "$ROOT/scripts/setup.sh" | grep -E '^==> setup: done|FAILED' || true
bash "$LAB" up
bash "$LAB" status

for n in node1 node2; do bash "$LAB" docker "$n" rm -f counter >/dev/null 2>&1 || true; done
echo "==> demo: starting a counter on node1"
bash "$LAB" docker node1 run -d --name counter busybox:latest \
  sh -c 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.5; done' >/dev/null
sleep 3
echo "    node1 counter, last lines: $(bash "$LAB" docker node1 logs counter 2>&1 | tail -n 3 | tr '\n' ' ')"

echo "==> demo: migrate-cli push counter --to node2   (run on node1)"
bash "$LAB" cli node1 push counter --to node2

sleep 2
echo "==> demo: after the move"
echo "    node1: $(bash "$LAB" docker node1 ps -a --filter name=^counter$ --format '{{.Names}}' | grep -c . || true) container(s) named counter"
echo "    node2: $(bash "$LAB" docker node2 ps --filter name=^counter$ --format '{{.Names}} {{.Status}}')"
echo "    node2 counter, last lines: $(bash "$LAB" docker node2 logs counter 2>&1 | tail -n 3 | tr '\n' ' ')"
echo "==> demo: done. The lab stays up: try 'scripts/lab.sh cli node2 push counter --to node1'; 'scripts/lab.sh down' removes it."
