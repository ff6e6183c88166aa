#!/bin/bash
# Runs at boot inside a VM of scripts/vm-check.sh (role from the kernel command line); every
# line it prints goes to the console prefixed "[vm ROLE]", and it ends with "end rc=N".
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
role="$(sed -n 's/.*livemig.role=\([a-z0-9]*\).*/\1/p' /proc/cmdline)"
exec > >(sed -u "s/^/[vm $role] /") 2>&1
declare -A addr=([node1]=192.168.56.11 [node2]=192.168.56.12)
REPO=/opt/livemig
end() { echo "end rc=$1"; sleep 1; sync; systemctl poweroff -f; exit "$1"; }
echo "begin: kernel $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), AppArmor $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || echo N)"

if [ "$role" = one ]; then
  cd "$REPO"
  bash scripts/setup.sh | grep -E '^==> setup: done|FAILED' || end 1
  bash scripts/demo.sh || end 2
  echo "node1 dockerd: $(bash scripts/lab.sh docker node1 info -f 'cgroup {{.CgroupVersion}}, driver {{.CgroupDriver}}, security {{.SecurityOptions}}')"
  mapfile -t args < /root/vitest-args
  if [ -n "${args[0]:-}" ]; then
    npx vitest run --project e2e "${args[@]}" || end 3
  fi
  end 0
fi

# Two VMs: what `vagrant up` does (upload the PKI, run provision.sh), then a push between them.
hostname "$role"; echo "$role" > /etc/hostname
ip link set lo up; ip addr add "${addr[$role]}/24" dev eth0; ip link set eth0 up
rm -rf /tmp/livemig-pki; cp -a /root/pki /tmp/livemig-pki
bash "$REPO/vagrant/provision.sh" "$role" "${addr[$role]}" "node1=${addr[node1]} node2=${addr[node2]}" || end 1
if [ "$role" = node1 ]; then
  for _ in $(seq 1800); do (exec 3<>/dev/tcp/node2/7411) 2>/dev/null && break; sleep 1; done
  # Emulated TLS handshakes can take longer than status's 5 s deadline: a few tries.
  for try in 1 2 3 4 5; do migrate-cli status --to node2 && break; [ $try = 5 ] && end 2; sleep 5; done
  docker run -d --name counter busybox:latest sh -c 'i=0; while true; do i=$((i+1)); echo $i; sleep 1; done' >/dev/null
  sleep 8
  echo "counter on node1: $(docker logs counter | tail -n 1)"
  migrate-cli push counter --to node2 || end 3
  left="$(docker ps -a -q --filter name='^counter$' | wc -l)"
  echo "containers named counter left on node1: $left"
  [ "$left" = 0 ] || end 4
  sleep 20 # node2 reads its copy's logs meanwhile
  end 0
fi
# The agent logs the restore; the container itself was created before the freeze, helper waiting.
for _ in $(seq 2400); do journalctl -u livemig-agent --no-pager | grep -q 'counter restored' && break; sleep 1; done
sleep 5
lines="$(docker logs counter 2>&1 | wc -l)"; last="$(docker logs counter 2>&1 | tail -n 1)"
echo "counter on node2: $(docker ps --filter name='^counter$' --format '{{.Status}}'), $lines log lines (its history moved with it), last $last"
# Moved, not restarted: one count from 1 without a gap or a second 1 (the history came along),
# and still counting.
docker logs counter 2>&1 | awk '$1 != NR { exit 1 }' || { echo "the counter did not go on from where it was"; end 1; }
sleep 3
[ "$(docker logs counter 2>&1 | tail -n 1)" -gt "$last" ] || { echo "the counter stopped"; end 1; }
end 0
