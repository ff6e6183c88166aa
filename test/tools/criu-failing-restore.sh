#!/bin/sh
# A criu that works for everything but `restore`, which fails as a real restore failure would
# (non-zero exit, an Error line in restore.log). Fault tests run an agent with --criu pointing here.
if [ "$1" = restore ]; then
  echo "(00.000001) Error (fault-injection): restore refused by the test" > restore.log
  exit 1
fi
exec criu "$@"
