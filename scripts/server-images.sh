#!/usr/bin/env bash
# livemig-servers:latest: Debian 12 (minbase) with PostgreSQL 15, nginx-light, python3 and
# OpenJDK 17 (with scripts/servers/WarmService.java compiled in), the real servers that
# end-to-end tests and the benchmark move. Made with debootstrap from Debian's
# packages (no registry) once per host, kept as a `docker save` archive in CACHE, and loaded into
# the Docker daemon of DOCKER_HOST where missing: every daemon that loads the same archive has the
# same image ID, which a migration needs.
#
#   server-images.sh            build the archive if missing, load it where missing, print the ID
#   server-images.sh --rebuild  build the archive anew
set -euo pipefail
CACHE="${LIVEMIG_CACHE:-/var/cache/livemig}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The archive is named for what it is built from: a change to this script or to the servers'
# sources builds a new one (and an older archive is removed).
KEY="$(cat "${BASH_SOURCE[0]}" "$HERE"/servers/* | sha256sum | cut -c1-12)"
ARCHIVE="$CACHE/livemig-servers-$KEY.tar"
TAG=livemig-servers:latest
MIRROR="${LIVEMIG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=postgresql,nginx-light,python3,openjdk-17-jdk-headless,procps,util-linux,curl
DOCKER="$(command -v /usr/bin/docker || command -v docker)"
die() { echo "server-images: $*" >&2; exit 1; }

[ "${1:-}" = --rebuild ] && rm -f "$ARCHIVE"

# What building the image and talking to its servers from the host take (not every host's
# setup: the Debian 12 VMs of vm-check have no package mirror).
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v psql >/dev/null || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    die "apt-get install ${need[*]} failed"
fi

build() {
  local work rootfs layer_sha config cfg_sha arch
  work="$(mktemp -d /var/tmp/livemig-servers.XXXXXX)"
  trap 'rm -rf "$work"' RETURN
  rootfs="$work/rootfs"
  echo "server-images: debootstrap Debian 12 with $PACKAGES (about a minute)" >&2
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" > "$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
  # Not a system: no package caches, no services started by the package scripts' leftovers.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/lib/postgresql/15/main
  # The JVM service, compiled by the image's own javac (nothing from the host's JDK).
  install -d "$rootfs/opt/livemig"
  install -m 644 "$HERE/servers/WarmService.java" "$rootfs/opt/livemig/"
  mount -t proc proc "$rootfs/proc"
  chroot "$rootfs" javac -d /opt/livemig /opt/livemig/WarmService.java > "$work/javac.log" 2>&1 ||
    { umount "$rootfs/proc"; cat "$work/javac.log" >&2; die "javac WarmService.java failed"; }
  umount "$rootfs/proc"
  # Serial GC and no perf data file: fewer threads and no shared hsperfdata mapping to move.
  install -m 755 /dev/stdin "$rootfs/usr/local/bin/livemig-jvm" <<'EOF'
#!/bin/sh
exec java -XX:+UseSerialGC -XX:-UsePerfData -cp /opt/livemig WarmService "$@"
EOF
  # The containers' own entry points (servers as non-root users, data in volumes).
  install -m 755 /dev/stdin "$rootfs/usr/local/bin/livemig-postgres" <<'EOF'
#!/bin/sh
# PostgreSQL 15 on $PGDATA (default /var/lib/postgresql/data, a volume): made on first start,
# then run as the postgres user in the foreground. Trust auth: a lab-only server.
set -e
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
BIN=/usr/lib/postgresql/15/bin
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/initdb" -D "$PGDATA" --auth=trust -U postgres >/dev/null
  echo "host all all 0.0.0.0/0 trust" >> "$PGDATA/pg_hba.conf"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
EOF
  # A layer whose image ID depends only on the files (as scripts/base-images.sh does).
  arch="$(dpkg --print-architecture)"
  mkdir -p "$work/img/layer"
  tar -C "$rootfs" --sort=name --mtime=@0 --numeric-owner --format=gnu -cf "$work/img/layer/layer.tar" .
  layer_sha="$(sha256sum "$work/img/layer/layer.tar" | cut -d' ' -f1)"
  config="{\"architecture\":\"$arch\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"bash\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sha\"]},\"history\":[{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"livemig scripts/server-images.sh\"}]}"
  cfg_sha="$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
  printf '%s' "$config" > "$work/img/$cfg_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer/layer.tar"]}]' "$cfg_sha" "$TAG" > "$work/img/manifest.json"
  mkdir -p "$CACHE"
  chmod 700 "$CACHE"
  tar -C "$work/img" -cf "$ARCHIVE.tmp" . && mv "$ARCHIVE.tmp" "$ARCHIVE"
  find "$CACHE" -maxdepth 1 -name 'livemig-servers*.tar' ! -name "${ARCHIVE##*/}" -delete
}

[ -s "$ARCHIVE" ] || build
want="sha256:$(tar -xOf "$ARCHIVE" ./manifest.json | sed 's/.*"Config":"\([0-9a-f]*\)\.json".*/\1/')"
have="$("$DOCKER" image inspect -f '{{.Id}}' "$TAG" 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  "$DOCKER" load -i "$ARCHIVE" >/dev/null
  have="$("$DOCKER" image inspect -f '{{.Id}}' "$TAG")"
  [ "$have" = "$want" ] || die "$TAG loaded as $have, expected $want"
fi
echo "$TAG $want"
