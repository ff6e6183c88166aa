#!/bin/sh
# A criu whose lazy-pages daemon, its pages all in, exits only 4 s later: the lazy phase (the
# copy running on the destination, Restored not yet sent) is held open long enough for the lease
# tests (test/lease.test.ts) to cut the link, kill or stop the agent in it.
if [ "$1" = lazy-pages ]; then
  criu "$@"
  rc=$?
  sleep 4
  exit $rc
fi
exec criu "$@"
