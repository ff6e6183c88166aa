#!/bin/sh
# A criu on a host without userfaultfd: `criu check --feature uffd-noncoop` fails, all else works.
if [ "$1" = check ] && [ "$3" = uffd-noncoop ]; then
  echo "Error (fault-injection): uffd-noncoop is not supported" >&2
  exit 1
fi
exec criu "$@"
