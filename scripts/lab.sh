#!/usr/bin/env bash
# The two-node lab on ONE machine: network namespaces node1 and node2 joined by a veth pair,
# each with its own dockerd (own data-root, exec-root, socket, docker0) and its own agent.
# `up --nodes 3` (or LIVEMIG_LAB_NODES=3) adds node3, joined to each of them by a veth pair of
# its own (drain's placement across destinations); once up, every command includes it.
#
#   lab.sh up [--nodes 3] | down-node3 | status | down | restart-agents | restart-agent NODE [flags] | kill-agent NODE
#   lab.sh docker NODE ARGS...   docker CLI against NODE's daemon
#   lab.sh cli NODE ARGS...      migrate-cli as an operator on NODE would run it
#   lab.sh exec NODE CMD...      any command in NODE's network namespace
# The agents' environment passes through: LIVEMIG_TRACE=1 logs the data path's steps with times
# (packages/core/src/util/trace.ts); LIVEMIG_NODE_FLAGS adds node flags to the agents (a CPU
# profile: LIVEMIG_NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR", written when the lab goes down).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODES=(node1 node2)
if [ "${1:-}" = up ] && [ "${2:-}" = --nodes ]; then LIVEMIG_LAB_NODES="${3:-}"; set -- up; fi
case "${LIVEMIG_LAB_NODES:-2}" in 2) ;; 3) NODES+=(node3) ;; *) echo "lab: --nodes: 2 or 3, not '${LIVEMIG_LAB_NODES}'" >&2; exit 1 ;; esac
# node3 made by an earlier `up --nodes 3`: status, down and the rest include it.
[ "${#NODES[@]}" -eq 3 ] || { [ -e /var/run/netns/node3 ] || [ -d /run/livemig-lab/node3 ]; } && NODES=(node1 node2 node3)
SUBNET=10.77.0
PORT=7411
RUN=/run/livemig-lab
DATA=/var/lib/livemig-lab
SCRATCH=/dev/shm/livemig-lab # the agents' checkpoints that fit in memory (their --scratch-dir)
HOSTS_TAG="# livemig-lab"
PKI="$DATA/pki"
DOCKER_BIN="$(command -v /usr/bin/docker || command -v docker || true)"

die() { echo "lab: $*" >&2; exit 1; }
addr_of() { case "$1" in node1) echo "$SUBNET.1" ;; node2) echo "$SUBNET.2" ;; node3) [ "${#NODES[@]}" -eq 3 ] || die "unknown node 'node3' (not up: lab.sh up --nodes 3 adds it)"; echo "$SUBNET.3" ;; *) die "unknown node '$1' (nodes: ${NODES[*]})" ;; esac; }
check_node() { addr_of "$1" >/dev/null; }
netns_path() { echo "/var/run/netns/$1"; }
in_ns() { local n="$1"; shift; nsenter --net="$(netns_path "$n")" -- "$@"; }
sock() { echo "$RUN/$1/docker.sock"; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_docker() { local n="$1"; shift; DOCKER_HOST="unix://$(sock "$n")" "$DOCKER_BIN" "$@"; }
agent_js() { echo "$ROOT/packages/agent/dist/main.js"; }
cli_js() { echo "$ROOT/packages/cli/dist/main.js"; }
node_pki() { echo "$DATA/$1/pki"; }

wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs="$1" what="$2"; shift 2
  local i
  for ((i = 0; i < secs * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "timed out after ${secs}s waiting for $what"
}

# ---------------------------------------------------------------------------------------------
net_up() {
  local n
  for n in "${NODES[@]}"; do
    [ -e "$(netns_path "$n")" ] || ip netns add "$n"
    in_ns "$n" ip link set lo up
  done
  if ! in_ns node1 ip link show lab0 >/dev/null 2>&1; then
    ip link add lab-node1 type veth peer name lab-node2
    ip link set lab-node1 netns node1
    ip link set lab-node2 netns node2
    in_ns node1 ip link set lab-node1 name lab0
    in_ns node2 ip link set lab-node2 name lab0
  fi
  for n in node1 node2; do
    in_ns "$n" ip addr replace "$(addr_of "$n")/24" dev lab0
    in_ns "$n" ip link set lab0 up
  done
  [ "${#NODES[@]}" -eq 3 ] && node3_net_up
  # Names resolve from either node (the namespaces share the host's /etc/hosts).
  sed -i "/$HOSTS_TAG\$/d" /etc/hosts
  for n in "${NODES[@]}"; do echo "$(addr_of "$n") $n $HOSTS_TAG" >> /etc/hosts; done
}

# node3: a veth pair to each of node1 and node2 (lab3 at their end), its address on both of its
# ends, host routes: the node1-node2 pair and its /24 stay exactly as they are.
node3_net_up() {
  local n i=0
  for n in node1 node2; do
    i=$((i + 1))
    if ! in_ns "$n" ip link show lab3 >/dev/null 2>&1; then
      ip link add "lab-$n-3" type veth peer name "lab-3-$n"
      ip link set "lab-$n-3" netns "$n"
      ip link set "lab-3-$n" netns node3
      in_ns "$n" ip link set "lab-$n-3" name lab3
      in_ns node3 ip link set "lab-3-$n" name "lab$i"
    fi
    in_ns "$n" ip link set lab3 up
    in_ns node3 ip link set "lab$i" up
    in_ns node3 ip addr replace "$(addr_of node3)/32" dev "lab$i"
    in_ns node3 ip route replace "$(addr_of "$n")/32" dev "lab$i"
    in_ns "$n" ip route replace "$(addr_of node3)/32" dev lab3
  done
}

dockerd_up() {
  local n="$1" dir="$RUN/$1"
  mkdir -p "$dir" "$DATA/$n"
  if pid_alive "$dir/dockerd.pid"; then return 0; fi
  # nsenter --net only (not `ip netns exec`, which remounts /sys and hides the cgroup mounts).
  setsid nsenter --net="$(netns_path "$n")" -- dockerd \
    --data-root "$DATA/$n/docker" --exec-root "$dir/exec" \
    --host "unix://$(sock "$n")" --pidfile "$dir/dockerd.pid" \
    --storage-driver overlay2 --log-level warn \
    </dev/null >"$dir/dockerd.log" 2>&1 &
  wait_for 60 "dockerd on $n (log: $dir/dockerd.log)" node_docker "$n" version
}

# busybox:latest and livemig-testkit:latest with the same image IDs on both nodes: built
# reproducibly on each (scripts/base-images.sh), as on two real hosts.
images_up() {
  local n
  for n in "${NODES[@]}"; do DOCKER_HOST="unix://$(sock "$n")" bash "$ROOT/scripts/base-images.sh" >/dev/null; done
}

# Agents talk mutual TLS: a lab CA, one node certificate per node, one operator certificate for
# the CLI (roles in the certificates: what each may call). $PKI is the operator's dir, with the CA
# key; each agent gets, as a real node would, only ca.pem and its own pair, in its own dir.
pki_up() {
  local n nodes=()
  for n in "${NODES[@]}"; do nodes+=(--node "$n=$(addr_of "$n")"); done
  node "$(cli_js)" certs --out "$PKI" "${nodes[@]}" >/dev/null
  for n in "${NODES[@]}"; do
    mkdir -p -m 700 "$(node_pki "$n")"
    cp "$PKI/ca.pem" "$PKI/$n.pem" "$PKI/$n-key.pem" "$(node_pki "$n")/"
  done
}

agent_up() { # agent_up NODE [extra agent flags...]
  local n="$1" dir="$RUN/$1"
  shift
  [ -f "$(agent_js)" ] || die "agent not built: run scripts/setup.sh first"
  pki_up
  if pid_alive "$dir/agent.pid"; then
    # Reuse it only if it runs this checkout's agent (not another clone's).
    tr '\0' ' ' < "/proc/$(cat "$dir/agent.pid")/cmdline" | grep -qF "$(agent_js)" && return 0
    stop_pid "$dir/agent.pid"
  fi
  mkdir -p "$DATA/$n/agent"
  # Node flags: as the agent's own #! line (why: packages/agent/src/main.ts).
  setsid nsenter --net="$(netns_path "$n")" -- node ${LIVEMIG_NODE_FLAGS:-} --single-threaded-gc --max-semi-space-size=4 "$(agent_js)" \
    --listen "0.0.0.0:$PORT" --node-name "$n" --docker-socket "$(sock "$n")" \
    --state-dir "$DATA/$n/agent" --scratch-dir "$SCRATCH/$n" --helper "$ROOT/packages/restore-init/restore-init" \
    --tls-dir "$(node_pki "$n")" "$@" \
    </dev/null >>"$dir/agent.log" 2>&1 &
  echo $! > "$dir/agent.pid"
  wait_for 30 "agent on $n (log: $dir/agent.log)" in_ns "$n" bash -c "exec 3<>/dev/tcp/$(addr_of "$n")/$PORT"
}

cmd_up() {
  command -v dockerd >/dev/null || die "dockerd missing: run scripts/setup.sh first"
  command -v criu >/dev/null || die "criu missing: run scripts/setup.sh first"
  [ -x "$ROOT/packages/restore-init/restore-init" ] || die "restore helper not built: run scripts/setup.sh first"
  net_up
  local n
  for n in "${NODES[@]}"; do dockerd_up "$n"; done
  images_up
  for n in "${NODES[@]}"; do agent_up "$n"; done
  echo "lab: up ($(for n in "${NODES[@]}"; do printf '%s %s, ' "$n" "$(addr_of "$n")"; done)agents on port $PORT)"
}

# ---------------------------------------------------------------------------------------------
cmd_status() {
  local n rc=0 line
  for n in "${NODES[@]}"; do
    if pid_alive "$RUN/$n/dockerd.pid" && line="$(node_docker "$n" version -f '{{.Server.Version}}' 2>/dev/null)"; then
      echo "$n dockerd: running, docker $line, $(node_docker "$n" ps -q | wc -l) containers"
    else
      echo "$n dockerd: DOWN"; rc=1
    fi
    if pid_alive "$RUN/$n/agent.pid"; then echo "$n agent: running (pid $(cat "$RUN/$n/agent.pid"))"; else echo "$n agent: DOWN"; rc=1; fi
  done
  local from to
  for from in "${NODES[@]}"; do
    for to in "${NODES[@]}"; do
      [ "$from" = "$to" ] && continue
      if line="$(cmd_cli "$from" status --to "$to" 2>&1 | tail -n1)"; then
        echo "$from -> $to: ok: ${line#peer   }"
      else
        echo "$from -> $to: FAILED: $line"; rc=1
      fi
    done
  done
  return $rc
}

cmd_cli() {
  local n="$1"; shift
  check_node "$n"
  [ -e "$(netns_path "$n")" ] || die "node $n is not up: run scripts/lab.sh up"
  LIVEMIG_AGENT="localhost:$PORT" LIVEMIG_TLS_DIR="$PKI" in_ns "$n" node "$(cli_js)" "$@"
}

# ---------------------------------------------------------------------------------------------
stop_pid() { # stop_pid PIDFILE: TERM, wait, KILL
  local f="$1" pid i
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

dockerd_down() {
  local n="$1"
  # Containers first, so dockerd exits with nothing running (it would kill them anyway).
  if pid_alive "$RUN/$n/dockerd.pid"; then
    local ids; ids="$(node_docker "$n" ps -aq 2>/dev/null || true)"
    [ -z "$ids" ] || node_docker "$n" rm -f $ids >/dev/null 2>&1 || true
  fi
  stop_pid "$RUN/$n/dockerd.pid"
}

# Whatever a node's daemon left mounted below the lab's directories (overlays, netns files, shm).
unmount_below() {
  local n="$1" m
  for m in $(awk -v a="$DATA/$n/" -v b="$RUN/$n/" 'index($5, a) == 1 || index($5, b) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

# node3 alone (its veth pairs go with its namespace); node1 and node2 stay up as they are.
cmd_down_node3() {
  [ "${#NODES[@]}" -eq 3 ] || { echo "lab: node3 is not up"; return 0; }
  stop_pid "$RUN/node3/agent.pid"
  dockerd_down node3
  unmount_below node3
  [ -e "$(netns_path node3)" ] && ip netns del node3
  sed -i "/^$SUBNET.3 node3 $HOSTS_TAG\$/d" /etc/hosts
  rm -rf "$RUN/node3" "$DATA/node3" "$SCRATCH/node3"
  echo "lab: node3 down"
}

cmd_down() {
  local n
  for n in "${NODES[@]}"; do stop_pid "$RUN/$n/agent.pid"; done
  for n in "${NODES[@]}"; do dockerd_down "$n"; done
  for n in "${NODES[@]}"; do unmount_below "$n"; done
  for n in "${NODES[@]}"; do [ -e "$(netns_path "$n")" ] && ip netns del "$n"; done
  sed -i "/$HOSTS_TAG\$/d" /etc/hosts
  rm -rf "$RUN" "$DATA" "$SCRATCH"
  # CRIU's kernel-probe cache, which the agents made (a host agent makes it again at its start).
  rm -rf /dev/shm/livemig-criu
  # Docker's parent cgroups, when no container of any daemon is left in them.
  for m in /sys/fs/cgroup/*/docker /sys/fs/cgroup/docker; do [ -d "$m" ] && rmdir "$m" 2>/dev/null || true; done
  echo "lab: down"
}

# ---------------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "run as root"
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  up) cmd_up ;;
  restart-agents) for n in "${NODES[@]}"; do stop_pid "$RUN/$n/agent.pid"; agent_up "$n"; done; echo "lab: agents restarted" ;;
  restart-agent) # restart-agent NODE [agent flags...]: e.g. a test's fault-injecting --criu
    [ $# -ge 1 ] || die "usage: lab.sh restart-agent NODE [agent flags...]"
    n="$1"; shift; check_node "$n"; stop_pid "$RUN/$n/agent.pid"; agent_up "$n" "$@"; echo "lab: agent on $n restarted" ;;
  kill-agent) # kill-agent NODE: SIGKILL, as a crash would (fault tests)
    [ $# -eq 1 ] || die "usage: lab.sh kill-agent NODE"
    check_node "$1"; f="$RUN/$1/agent.pid"; [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; rm -f "$f"; echo "lab: agent on $1 killed" ;;
  status) cmd_status ;;
  down) cmd_down ;;
  down-node3) cmd_down_node3 ;;
  docker) [ $# -ge 1 ] || die "usage: lab.sh docker NODE ARGS..."; n="$1"; shift; check_node "$n"; node_docker "$n" "$@" ;;
  cli) [ $# -ge 1 ] || die "usage: lab.sh cli NODE ARGS..."; cmd_cli "$@" ;;
  exec) [ $# -ge 2 ] || die "usage: lab.sh exec NODE CMD..."; n="$1"; shift; check_node "$n"; LIVEMIG_TLS_DIR="$PKI" in_ns "$n" "$@" ;;
  "") die "usage: lab.sh up|status|down|docker NODE ARGS...|cli NODE ARGS...|exec NODE CMD..." ;;
  *) die "unknown command '$cmd' (commands: up, status, down, down-node3, restart-agents, restart-agent, kill-agent, docker, cli, exec)" ;;
esac
