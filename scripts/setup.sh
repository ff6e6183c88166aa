#!/usr/bin/env bash
# Host setup, idempotent, as root on a fresh Debian 12 / Ubuntu 22.04+ host:
# Docker Engine, CRIU >= 4.2 (built from Debian's source when the host's is older or fails
# `criu check`), host tools, npm dependencies, the TypeScript build, the static helpers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CRIU_VERSION=4.2.1
CRIU_DEB_VERSION=4.2.1-1
CRIU_ORIG_MD5=15af4ed4460591e31fc5be6cab994ac9
CRIU_PREFIX=/usr/local/sbin
# CRIU keeps its kernel-probe cache (criu.kdat) only on a tmpfs; /run is not one on every host.
# Ours keeps it here (= KDAT_DIR in packages/core/src/criu/kdat-cache.ts; the agent makes it).
CRIU_KDAT_DIR=/dev/shm/livemig-criu
STEP=""

step() { STEP="$1"; echo "==> setup: $1"; }
fail() { echo "setup: FAILED at step '$STEP': $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "setup: FAILED at step '"'"'$STEP'"'"' (exit $rc)" >&2' EXIT

[ "$(id -u)" -eq 0 ] || { echo "setup: run as root" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

APT_UPDATED=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $APT_UPDATED -eq 0 ]; then apt-get update -qq || fail "apt-get update"; APT_UPDATED=1; fi
  echo "    installing: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# ---------------------------------------------------------------------------------------------
step "host tools"
apt_install iproute2 util-linux attr busybox-static build-essential patch openssl xz-utils zstd iptables ca-certificates procps kmod file

step "node.js"
# >= 20.12: the pre-copy's page digests use crypto.hash.
command -v node >/dev/null || fail "node.js >= 20.12 is required (install it from your distribution or nodesource)"
version_ge "$(node -p 'process.versions.node')" 20.12 || fail "node.js >= 20.12 is required, found $(node --version)"

step "docker engine"
if command -v dockerd >/dev/null && version_ge "$(dockerd --version | sed -E 's/^Docker version ([0-9.]+).*/\1/')" 20.10; then
  echo "    using $(dockerd --version)"
else
  apt_install docker.io
fi
command -v runc >/dev/null || apt_install runc
# With AppArmor on (Debian and Ubuntu kernels), dockerd loads its docker-default profile with
# apparmor_parser and refuses to start any container without it; docker.io only recommends it.
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ]; then apt_install apparmor; fi

# ---------------------------------------------------------------------------------------------
step "criu"
# Without CAP_SYS_RESOURCE (some sandboxes drop it) CRIU cannot read the rlimits of a process of
# another user; our patch (scripts/criu-patches) reads them from /proc/PID/limits instead.
has_cap_sys_resource() { (( (0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24) & 1 )); }
criu_ok() {
  local bin="$1" v
  [ -x "$bin" ] || return 1
  v="$("$bin" --version 2>/dev/null | sed -nE 's/^Version: ([0-9.]+).*/\1/p')"
  [ -n "$v" ] && version_ge "$v" 4.2 && "$bin" check >/dev/null 2>&1 || return 1
  has_cap_sys_resource || grep -q 'livemig: rlimit' "$bin" || return 1
  # Without its cache CRIU probes the kernel at every start: ~35 ms of each dump and restore.
  [ "$(stat -f -c %T /run)" = tmpfs ] || grep -qF "$CRIU_KDAT_DIR/criu.kdat" "$bin"
}
CRIU_BIN=""
for candidate in "$CRIU_PREFIX/criu" "$(command -v criu || true)"; do
  if [ -n "$candidate" ] && criu_ok "$candidate"; then CRIU_BIN="$candidate"; break; fi
done
if [ -n "$CRIU_BIN" ]; then
  echo "    using $CRIU_BIN ($("$CRIU_BIN" --version | head -n1)), criu check passes"
else
  echo "    no usable criu (>= 4.2, passing 'criu check'$(has_cap_sys_resource || echo ', patched for a host without CAP_SYS_RESOURCE')$([ "$(stat -f -c %T /run)" = tmpfs ] || echo ", keeping its cache in $CRIU_KDAT_DIR (/run is not tmpfs)")): building CRIU $CRIU_VERSION from Debian's source"
  apt_install pkgconf libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev \
    libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler uuid-dev python3-protobuf
  # The source comes from Debian's archive (suite sid) through a private apt configuration, so
  # the system's apt sources and state are not touched. The mirror is the one this host already
  # uses for Debian, or LIVEMIG_DEBIAN_MIRROR (needed on Ubuntu, whose archive has no Debian sid).
  mirror="${LIVEMIG_DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)"
  fi
  [ -n "$mirror" ] || fail "no Debian mirror in this host's apt sources: set LIVEMIG_DEBIAN_MIRROR=<Debian mirror URL> and run again"
  work="$(mktemp -d /tmp/livemig-criu-build.XXXXXX)"
  chmod 755 "$work" # apt downloads as the _apt user
  mkdir -p "$work/lists/partial"
  echo "deb-src ${mirror%/} sid main" > "$work/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists")
  apt-get "${apt_opts[@]}" update -qq >/dev/null || fail "apt-get update of the Debian source list ($mirror sid)"
  # The Debian packaging tarball may be missing (404); only the upstream tarball is needed.
  (cd "$work" && apt-get "${apt_opts[@]}" source --download-only "criu=$CRIU_DEB_VERSION" >/dev/null 2>&1 || true)
  orig="$work/criu_${CRIU_VERSION}.orig.tar.xz"
  [ -f "$orig" ] || fail "could not download criu_${CRIU_VERSION}.orig.tar.xz from $mirror"
  echo "$CRIU_ORIG_MD5  $orig" | md5sum -c --quiet - || fail "checksum mismatch for $orig"
  tar -C "$work" -xf "$orig"
  for p in "$ROOT"/scripts/criu-patches/*.patch; do
    patch -s -d "$work/criu-$CRIU_VERSION" -p1 < "$p" || fail "applying $(basename "$p")"
  done
  make -C "$work/criu-$CRIU_VERSION" -j"$(nproc)" RUNDIR="$CRIU_KDAT_DIR" criu >"$work/build.log" 2>&1 || fail "make criu (log: $work/build.log)"
  install -m 0755 "$work/criu-$CRIU_VERSION/criu/criu" "$CRIU_PREFIX/criu"
  rm -rf "$work"
  criu_ok "$CRIU_PREFIX/criu" || fail "the built criu fails 'criu check': $("$CRIU_PREFIX/criu" check 2>&1 | tail -n1)"
  CRIU_BIN="$CRIU_PREFIX/criu"
  echo "    installed $CRIU_BIN ($("$CRIU_BIN" --version | head -n1))"
fi

# ---------------------------------------------------------------------------------------------
step "npm dependencies"
cd "$ROOT"
stamp="node_modules/.livemig-installed"
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error || fail "npm ci"
  touch "$stamp"
else
  echo "    up to date"
fi

step "typescript build"
npm run -s build || fail "tsc build"

step "static helpers"
make -s -C packages/restore-init || fail "make restore-init"

# The agent as a service where systemd runs: installed, not enabled or started (which node this
# is, its certificates and peers are the operator's to say, in /etc/default/livemig-agent).
if [ -d /run/systemd/system ]; then
  step "systemd unit"
  sed -e "s#@NODE@#$(command -v node)#g" -e "s#@REPO@#$ROOT#g" scripts/systemd/livemig-agent.service.in > /etc/systemd/system/livemig-agent.service
  systemctl daemon-reload
  if [ -f /etc/default/livemig-agent ]; then
    echo "    installed livemig-agent.service ($(systemctl is-enabled livemig-agent 2>/dev/null || true)); /etc/default/livemig-agent configures it"
  else
    echo "    installed livemig-agent.service; to run it: write /etc/default/livemig-agent (see the unit), then systemctl enable --now livemig-agent"
  fi
fi

echo "==> setup: done (criu: $CRIU_BIN, docker: $(dockerd --version))"
