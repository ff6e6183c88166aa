#!/bin/sh
# A criu whose lazy-pages daemon dies as soon as criu restore has resumed the tree (its memory
# not yet in). Fault tests run an agent with --criu pointing here: the
# destination must roll back (the tree there lost its memory), the source resume.
if [ "$1" = lazy-pages ]; then
  criu "$@" &
  daemon=$!
  until grep -qs 'Tasks resumed' restore.log; do # criu's cwd is the images dir
    kill -0 "$daemon" 2>/dev/null || exit 1
    sleep 0.005
  done
  kill -9 "$daemon"
  echo "(00.000001) Error (fault-injection): lazy-pages daemon killed by the test" >> lazy-pages.log
  exit 1
fi
exec criu "$@"
