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
# node2's criu holds its second restore (test/tools/criu-restore-hold.sh): the agent is killed there.
[ "$role" = node2 ] && export LIVEMIG_AGENT_EXTRA_ARGS="--criu $REPO/test/tools/criu-restore-hold.sh"
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
  # The agent under systemd killed mid-migration: node2 holds this restore, kills its agent
  # (SIGKILL), systemd starts it again and its recovery removes the half-made target; here the
  # push rolls back and victim counts on.
  docker run -d --name victim busybox:latest sh -c 'i=0; while true; do i=$((i+1)); echo $i; sleep 1; done' >/dev/null
  sleep 5
  if migrate-cli push victim --to node2 2>/tmp/victim.err; then echo "push of victim did not fail"; end 5; fi
  echo "push of victim: $(cat /tmp/victim.err)"
  grep -q 'rolled back: victim is running on node1' /tmp/victim.err || end 5
  n="$(docker logs victim | tail -n 1)"; sleep 3
  [ "$(docker inspect -f '{{.State.Running}}' victim)" = true ] && [ "$(docker logs victim | tail -n 1)" -gt "$n" ] || { echo "victim does not count on node1"; end 5; }
  docker logs victim | awk '$1 != NR { exit 1 }' || { echo "victim's count has a gap or restarted"; end 5; }
  echo "victim on node1 after the rollback: running, last $(docker logs victim | tail -n 1)"
  sleep 20 # node2 checks its recovery meanwhile
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
# victim's restore, held by the criu wrapper: kill the agent there, as a crash would.
for _ in $(seq 2400); do [ -e /run/livemig-restore-held ] && break; sleep 1; done
[ -e /run/livemig-restore-held ] || { echo "victim's restore never began"; end 6; }
[ -n "$(docker ps -aq --filter name='^victim$')" ] || { echo "no half-made victim to remove"; end 6; }
pid="$(systemctl show -p MainPID --value livemig-agent)"
kill -KILL "$pid"; rm -f /run/livemig-restore-held
echo "agent (pid $pid) killed while victim's target is half-made"
for _ in $(seq 600); do
  journalctl -u livemig-agent --no-pager | grep -q 'recovery: removed half-made victim' && break; sleep 1
done
echo "agent: $(systemctl show -p ActiveState --value livemig-agent), restarted by systemd $(systemctl show -p NRestarts --value livemig-agent) time(s), pid $(systemctl show -p MainPID --value livemig-agent)"
journalctl -u livemig-agent --no-pager | grep 'recovery:' || { echo "no recovery after the restart"; end 6; }
[ "$(systemctl show -p NRestarts --value livemig-agent)" -ge 1 ] || end 6
left="$(docker ps -aq --filter name='^victim$' | wc -l)"
echo "containers named victim left on node2: $left"
[ "$left" = 0 ] || end 6
end 0
