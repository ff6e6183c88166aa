#!/bin/sh
# A criu whose second `criu restore` on this host holds, its target half-made, until the marker
# /run/livemig-restore-held it writes is removed, then fails: the Debian 12 VM check
# (scripts/vm/in-vm.sh) kills the agent under systemd meanwhile, so that systemd restarts it and
# its start-up recovery must remove that target. The first restore (the check's plain push) runs.
if [ "$1" = restore ]; then
  n=$(( $(cat /run/livemig-restores 2>/dev/null || echo 0) + 1 ))
  echo "$n" > /run/livemig-restores
  if [ "$n" = 2 ]; then
    touch /run/livemig-restore-held
    while [ -e /run/livemig-restore-held ]; do sleep 0.2; done
    echo "restore held by the test, then refused" >&2
    exit 1
  fi
fi
exec criu "$@"
