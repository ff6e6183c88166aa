#!/usr/bin/env bash
# The labs' base images, busybox:latest (Debian's busybox-static) and livemig-testkit:latest
# (busybox + test workloads), loaded into the Docker daemon of DOCKER_HOST (default: the host's).
#
# A migration needs the same base image ID on both hosts. `docker import` stamps the time into the
# image config, so two hosts importing the same files get different IDs. Here the archive is built
# byte for byte the same (sorted names, fixed times and owners, fixed config): any two hosts with
# the same busybox-static and memhog get the same image IDs, with nothing copied between them.
#
#   base-images.sh            load the images where missing or different; print their IDs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="$(command -v /usr/bin/docker || command -v docker)"
MEMHOG="$ROOT/test/workloads/memhog"
case "$(uname -m)" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH="$(uname -m)" ;; esac
[ -x /bin/busybox ] || { echo "base-images: /bin/busybox missing (Debian package busybox-static)" >&2; exit 1; }
[ -x "$MEMHOG" ] || { echo "base-images: $MEMHOG missing: run scripts/setup.sh first" >&2; exit 1; }

work="$(mktemp -d /tmp/livemig-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# rootfs DIR [with-memhog]: the image's files, with explicit modes (the umask may differ by host).
rootfs() {
  local r="$1" applet
  mkdir -p "$r"/{bin,etc,tmp,root,home/app,usr/local/bin,var}
  chmod 755 "$r" "$r"/{bin,etc,root,home,home/app,usr,usr/local,usr/local/bin,var}
  chmod 1777 "$r/tmp"
  install -m 755 /bin/busybox "$r/bin/busybox"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\napp:x:1000:\nnogroup:x:65534:\n' > "$r/etc/group"
  echo "base image file" > "$r/etc/livemig-base.txt"
  chmod 644 "$r"/etc/{passwd,group,livemig-base.txt}
  chown -R 0:0 "$r" && chown 1000:1000 "$r/home/app"
  if [ "${2:-}" = with-memhog ]; then install -m 755 -o 0 -g 0 "$MEMHOG" "$r/usr/local/bin/memhog"; fi
}

# archive NAME:TAG DIR: a `docker save` archive of one layer whose image ID depends only on the files.
archive() {
  local tag="$1" r="$2" out="$work/$3" layer_sha config cfg_sha
  mkdir -p "$out/layer"
  tar -C "$r" --sort=name --mtime=@0 --numeric-owner --format=gnu -cf "$out/layer/layer.tar" .
  layer_sha="$(sha256sum "$out/layer/layer.tar" | cut -d' ' -f1)"
  config="{\"architecture\":\"$ARCH\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\",\"config\":{\"Env\":[\"PATH=/usr/local/bin:/bin\"],\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer_sha\"]},\"history\":[{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"livemig scripts/base-images.sh\"}]}"
  cfg_sha="$(printf '%s' "$config" | sha256sum | cut -d' ' -f1)"
  printf '%s' "$config" > "$out/$cfg_sha.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer/layer.tar"]}]' "$cfg_sha" "$tag" > "$out/manifest.json"
  echo "sha256:$cfg_sha"
}

load() {
  local tag="$1" dir="$2" want="$3" have
  have="$("$DOCKER" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  if [ "$have" != "$want" ]; then
    tar -C "$work/$dir" -c . | "$DOCKER" load >/dev/null
    have="$("$DOCKER" image inspect -f '{{.Id}}' "$tag")"
    [ "$have" = "$want" ] || { echo "base-images: $tag loaded as $have, expected $want" >&2; exit 1; }
  fi
  echo "$tag $want"
}

rootfs "$work/busybox-root"
rootfs "$work/testkit-root" with-memhog
busybox_id="$(archive busybox:latest "$work/busybox-root" busybox)"
testkit_id="$(archive livemig-testkit:latest "$work/testkit-root" testkit)"
load busybox:latest busybox "$busybox_id"
load livemig-testkit:latest testkit "$testkit_id"
