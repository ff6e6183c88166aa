#!/usr/bin/env bash
# Checks the product on what a fresh Debian 12 host boots with and this machine does not have:
# cgroup v2 (systemd, Docker's systemd cgroup driver, private cgroup namespaces), AppArmor, and
# Debian's own kernel (6.1). Debian 12 VMs are made with debootstrap and booted with QEMU
# (software emulation: no hypervisor needed, ~20x slower than real; timings mean nothing).
#
#   vm-check.sh one [VITEST ARGS...]   one VM: setup, the demo (a push in its one-machine lab),
#                                      then, if given, e2e tests: e.g. `one test/push-state.test.ts`
#   vm-check.sh two                    two VMs on a virtual network, provisioned as Vagrant does
#                                      (vagrant/provision.sh); node1 pushes a counter to node2
#   vm-check.sh both [VITEST ARGS...]  one, then two (one debootstrap for both)
#
# Runs on a Debian 12 host after scripts/setup.sh (the VMs get this host's Node.js and CRIU
# build, and this working tree with its node_modules and build). Everything it makes is under
# $LIVEMIG_VM_DIR (default /var/tmp/livemig-vm-check), removed at the end unless LIVEMIG_VM_KEEP=1.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-}"; shift || true
WORK="${LIVEMIG_VM_DIR:-/var/tmp/livemig-vm-check}"
MIRROR="${LIVEMIG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TIMEOUT_S="${LIVEMIG_VM_TIMEOUT:-3600}"
PORT=17555 # the two VMs' virtual network: a QEMU socket on loopback

die() { echo "vm-check: $*" >&2; exit 1; }
case "$MODE" in one|two|both) ;; *) die "usage: vm-check.sh one [VITEST ARGS...] | two | both [VITEST ARGS...]" ;; esac
[ "$MODE" != two ] || [ $# -eq 0 ] || die "two takes no vitest arguments"
[ "$(id -u)" -eq 0 ] || die "run as root"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || die "needs a Debian 12 host (the VMs reuse its Node.js and CRIU binaries), this is ${PRETTY_NAME:-unknown}"
[ -x /usr/local/sbin/criu ] && [ -f "$ROOT/packages/agent/dist/main.js" ] || die "run scripts/setup.sh first"

QEMU_PIDS=()
cleanup() {
  local p
  for p in "${QEMU_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${QEMU_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ "${LIVEMIG_VM_KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

missing=()
for p in qemu-system-x86 qemu-utils debootstrap e2fsprogs ruby; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> vm-check: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- the VM's root filesystem: Debian 12 with what setup.sh would install, then this tree ----
R="$WORK/rootfs"
if [ ! -f "$WORK/rootfs.done" ]; then
  echo "==> vm-check: debootstrap Debian 12 into $R (a few minutes)"
  rm -rf "$R"; mkdir -p "$WORK"
  debootstrap --variant=minbase --include="$(tr -s ' \n' ',' <<'PKGS' | sed 's/,$//'
systemd-sysv dbus udev linux-image-amd64 initramfs-tools e2fsprogs kmod procps
iproute2 util-linux attr busybox-static build-essential patch openssl xz-utils zstd iptables
ca-certificates file docker.io runc apparmor
libbsd0 libgnutls30 libnftables1 libprotobuf-c1 libnl-3-200 libnet1 libuuid1
PKGS
)" bookworm "$R" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 || die "debootstrap failed (log: $WORK/debootstrap.log)"
  touch "$WORK/rootfs.done"
fi
echo "==> vm-check: copying Node.js, CRIU and this working tree into the VM"
cp -a "$(command -v node)" "$R/usr/bin/node"
rm -rf "$R/usr/lib/node_modules/npm" && mkdir -p "$R/usr/lib/node_modules"
cp -a "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" "$R/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/bin/npx"
cp -a /usr/local/sbin/criu "$R/usr/local/sbin/criu"
rm -rf "$R/opt/livemig" && mkdir -p "$R/opt/livemig"
# Tracked and new files, plus what setup built (node_modules, dist): setup in the VM is then quick.
(cd "$ROOT" && { git ls-files -co --exclude-standard -z | grep -zv '^vagrant/\.pki/'
  find packages -name node_modules -prune -o \( -name dist -o -name '*.tsbuildinfo' \) -print0; printf 'node_modules\0'; } \
  | tar -c --null -T -) | tar -C "$R/opt/livemig" -x
install -m 755 "$ROOT/scripts/vm/in-vm.sh" "$R/root/in-vm.sh"
printf '%s\n' "$@" > "$R/root/vitest-args"
# The certificates as the Vagrantfile makes them (vagrant/lab-pki.rb), uploaded by provision.sh's rules.
rm -rf "$R/root/pki"
ruby "$ROOT/vagrant/lab-pki.rb" "$R/root/pki" node1=192.168.56.11 node2=192.168.56.12
echo "/dev/vda / ext4 rw 0 1" > "$R/etc/fstab"
cat > "$R/etc/systemd/system/livemig-vm-check.service" <<'UNIT'
[Unit]
Description=livemig VM check
After=local-fs.target
[Service]
Type=oneshot
ExecStart=/root/in-vm.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/livemig-vm-check.service "$R/etc/systemd/system/multi-user.target.wants/"
# The console belongs to the check: no login prompt on it.
ln -sf /dev/null "$R/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$R/etc/systemd/system/getty@tty1.service"

echo "==> vm-check: making the disk image"
rm -f "$WORK"/*.raw
truncate -s 16G "$WORK/base.raw"
mkfs.ext4 -q -F -d "$R" "$WORK/base.raw"

# ---- boot ----
KERNEL="$(ls "$R"/boot/vmlinuz-* | head -n1)"; INITRD="$(ls "$R"/boot/initrd.img-* | head -n1)"
boot() { # boot NAME CPUS MEMORY_MIB ROLE [QEMU ARGS...]
  local name="$1" cpus="$2" mem="$3" role="$4"; shift 4
  qemu-img create -q -f qcow2 -b "$WORK/base.raw" -F raw "$WORK/$name.qcow2"
  qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" \
    -display none -monitor none -no-reboot -serial "file:$WORK/serial-$name.log" \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append "root=/dev/vda rw console=ttyS0 loglevel=4 net.ifnames=0 livemig.role=$role" \
    -drive "file=$WORK/$name.qcow2,format=qcow2,if=virtio,cache=unsafe" "$@" >"$WORK/qemu-$name.log" 2>&1 &
  QEMU_PIDS+=($!)
}
# run_vms one|two: boots the VMs of a mode, follows their consoles (the check's own lines) until
# every VM has powered off, and says whether each ended with rc=0.
run_vms() {
  local mode="$1" names=() shown=() i n f total alive line rc=0 deadline=$((SECONDS + TIMEOUT_S))
  QEMU_PIDS=()
  rm -f "$WORK"/*.qcow2 "$WORK"/serial-*.log
  if [ "$mode" = one ]; then
    echo "==> vm-check one: booting one Debian 12 VM (2 vCPUs, emulated)"
    boot vm 2 6144 one -nic none
    names=(vm)
  else
    echo "==> vm-check two: booting two Debian 12 VMs (1 vCPU each, emulated) joined by a virtual network"
    boot node1 1 3072 node1 -netdev "socket,id=n0,listen=127.0.0.1:$PORT" -device virtio-net-pci,netdev=n0,mac=52:54:00:56:00:11
    sleep 2
    boot node2 1 3072 node2 -netdev "socket,id=n0,connect=127.0.0.1:$PORT" -device virtio-net-pci,netdev=n0,mac=52:54:00:56:00:12
    names=(node1 node2)
  fi
  for n in "${names[@]}"; do shown+=(0); done
  while :; do
    for i in "${!names[@]}"; do
      f="$WORK/serial-${names[$i]}.log"
      [ -f "$f" ] || continue
      total="$(grep -a -c '' "$f" || true)"
      if [ "$total" -gt "${shown[$i]}" ]; then
        tail -n +"$((shown[$i] + 1))" "$f" | head -n "$((total - shown[$i]))" | grep -a '^\[vm ' || true
        shown[$i]=$total
      fi
    done
    alive=0
    for n in "${QEMU_PIDS[@]}"; do kill -0 "$n" 2>/dev/null && alive=1; done
    [ $alive = 1 ] || break
    [ $SECONDS -lt $deadline ] || { echo "vm-check $mode: the VMs did not finish within $TIMEOUT_S s"; return 1; }
    sleep 5
  done
  for n in "${names[@]}"; do
    line="$(grep -a '^\[vm .*\] end rc=' "$WORK/serial-$n.log" | tail -n1 || true)"
    [ -n "$line" ] || { echo "vm-check $mode: $n stopped without a result (console: $WORK/serial-$n.log)"; rc=1; continue; }
    [[ "$line" == *"end rc=0"* ]] || rc=1
  done
  if [ $rc = 0 ]; then echo "==> vm-check $mode: passed"; else echo "==> vm-check $mode: FAILED (LIVEMIG_VM_KEEP=1 keeps $WORK)"; fi
  return $rc
}

rc=0
if [ "$MODE" != two ]; then run_vms one || rc=1; fi
if [ "$MODE" != one ]; then run_vms two || rc=1; fi
exit $rc
