#!/usr/bin/env bash
# Benchmark in the one-machine lab (not part of the test suite). For memhog containers holding
# N MiB of half-compressible memory and for redis-server with 200k keys, runs RUNS measured
# migrations each and prints: downtime, total time, bytes on the wire, peak RSS of each agent
# (each agent's peak reset before every measured push), beside the CRIU floor of the same run (criu dump
# to a local dir + criu restore from one, taken from a --serial push just before) and the floor
# plus the time to move the compressed bytes at the link speed measured here.
# The measured pushes use the pre-copy (the default; --no-precopy: everything moves frozen); the
# bound counts only the bytes that moved while frozen. Besides the idle workloads of the issue, a
# memhog that rewrites 8 pages per ms (~30 MiB/s) shows what changing memory costs.
# Lazy restore (the default from 64 MiB) ends the downtime when the container resumes on the
# destination; "memory in after" is how long its pages were still being copied in then.
# Disk workloads (--disk, or --disk-only): a busybox counter with a 512 MiB file in a named
# volume, and one whose 2 GiB volume keeps changing (a 1 GiB file with 100 random 4 KiB writes a
# second, 20k small files of which some are appended to or replaced): their FIRST push (what a
# drain sees) and the push back, against the floor of the same counter without a volume.
# Checkpoint files (--checkpoint-only): memhog of each size checkpointed to a file on node1 and
# restored from it there (the container removed in between), uncompressed and zstd fast, as
# Podman's checkpoint --export / restore --import.
# A warm JVM (--jvm-only): the OpenJDK service of scripts/servers/WarmService.java (seconds of
# warm-up before READY) started cold with `docker run`, against `restore --image` of a checkpoint
# taken with `checkpoint --when-log READY --image`: time from the command to the first answered
# request, each on node1.
# Drain (--drain-only): 10 containers (4 idle memhog 64 MiB, 3 memhog 256 MiB churning 8 pages/ms, a
# redis, a busybox counter, one refused: --network host) pushed node1 -> node2 one after the other,
# brought back, then drained node1 -> node2 with the default --parallel: the drain's time against
# the pushes' in a row (target <= 0.6x) and each container's downtime against its own push's (<= 1.25x).
# --drain-parallel N: that drain with --parallel N instead of the default.
#   scripts/bench.sh [--sizes "16 256 1024"] [--runs 3] [--compress fast] [--no-redis] [--no-churn]
#                    [--no-precopy] [--lazy-pages auto|always|never] [--no-postgres]
#                    [--disk | --disk-only | --postgres-only | --checkpoint-only | --jvm-only | --drain-only]
#                    [--drain-parallel N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB="$ROOT/scripts/lab.sh"
SIZES="16 256 1024"
RUNS=3
COMPRESS=fast
REDIS=1
CHURN=1
MEM=1
DISK=0
PG_ONLY=0
PG=1
CKPT=0
JVM=0
# The JVM service's warm-up: rounds over its 10 MiB cache (JIT-compiled after the first few):
# ~4 s here, as a service that fills its caches at start would take.
JVM_WARM_ROUNDS=3000
DRAIN=0
DRAIN_PARALLEL= # empty: drain's default --parallel
PUSH_FLAGS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --disk) DISK=1; shift ;;
    --disk-only) DISK=1; MEM=0; shift ;;
    --postgres-only) DISK=1; MEM=0; PG_ONLY=1; shift ;;
    --no-postgres) PG=0; shift ;;
    --checkpoint-only) CKPT=1; MEM=0; shift ;;
    --jvm-only) JVM=1; MEM=0; shift ;;
    --drain-only) DRAIN=1; MEM=0; shift ;;
    --drain-parallel) DRAIN_PARALLEL="$2"; shift 2 ;;
    --no-precopy) PUSH_FLAGS+=" --no-precopy"; shift ;;
    --lazy-pages) PUSH_FLAGS+=" --lazy-pages $2"; shift 2 ;;
    --no-churn) CHURN=0; shift ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --compress) COMPRESS="$2"; shift 2 ;;
    --no-redis) REDIS=0; shift ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
  esac
done

lab() { bash "$LAB" "$@"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$(cat "/run/livemig-lab/$1/agent.pid")/status"; }

bash "$ROOT/scripts/setup.sh" >/dev/null
command -v python3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null; }
lab up >/dev/null

# Link speed node1 -> node2: plain TCP, 128 KiB buffers, 1 GiB.
LINK_MBPS="$(
  lab exec node2 python3 -c '
import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.2", 5201)); s.listen(1); c, _ = s.accept()
while c.recv(1 << 17): pass
c.sendall(b"k"); c.close()' &
  sleep 0.5
  lab exec node1 python3 -c '
import socket, time; c = socket.create_connection(("10.77.0.2", 5201)); buf = bytes(1 << 17); n = 1 << 30
t = time.time()
for _ in range(n // len(buf)): c.sendall(buf)
c.shutdown(socket.SHUT_WR); c.recv(1); print(int(n / 1e6 / (time.time() - t)))'
  wait
)"
echo "link node1 -> node2: ${LINK_MBPS} MB/s (TCP, 128 KiB writes)"

# redis-server image from the host's Debian package, made locally like the base images.
redis_image() {
  lab docker node1 image inspect livemig-redis:latest >/dev/null 2>&1 && lab docker node2 image inspect livemig-redis:latest >/dev/null 2>&1 && return
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
  }
  local rootfs; rootfs="$(mktemp -d /tmp/livemig-redis-rootfs.XXXXXX)"
  mkdir -p "$rootfs"/{bin,etc,tmp,data}
  chmod 1777 "$rootfs/tmp"
  cp "$(command -v redis-server)" "$rootfs/bin/redis-server"
  for lib in $(ldd "$(command -v redis-server)" | grep -oE '/[^ ]+'); do mkdir -p "$rootfs$(dirname "$lib")"; cp -L "$lib" "$rootfs$lib"; done
  echo 'root:x:0:0:root:/:/bin/redis-server' > "$rootfs/etc/passwd"
  tar -C "$rootfs" -c . | lab docker node1 import - livemig-redis:latest >/dev/null
  rm -rf "$rootfs"
  lab docker node1 save livemig-redis:latest | lab docker node2 load >/dev/null
}

RESULTS=()
# measure NAME LABEL: RUNS result rows. Each run: a --serial push node1 -> node2 (dump to disk,
# transfer, criu restore from disk: its dump + criu-restore phases are this run's CRIU floor),
# then the measured push back node2 -> node1 (pages sent while CRIU writes them, the default). The agents stay up, as
# in service (warm); their peak RSS (VmHWM) is reset before the measured push.
measure() {
  local name="$1" label="$2" i floor_json json
  for ((i = 1; i <= RUNS; i++)); do
    floor_json="$(lab cli node1 push "$name" --to node2 --serial --compress "$COMPRESS" --json)"
    for n in node1 node2; do echo 5 > "/proc/$(cat "/run/livemig-lab/$n/agent.pid")/clear_refs"; done # VmHWM := RSS now
    json="$(lab cli node2 push "$name" --to node1 --compress "$COMPRESS" --json $PUSH_FLAGS)"
    RESULTS+=("$(node -e '
      const [json, floorJson, label, run, link, hwmSrc, hwmDst] = process.argv.slice(1);
      const s = JSON.parse(json);
      const f = JSON.parse(floorJson);
      const floor = f.phaseMs.dump + f.phaseMs["criu-restore"];
      // The bytes that must move while the container is frozen (all of them without a pre-copy).
      const frozenWire = s.frozenBytesWire;
      const bound = floor + frozenWire / 1e6 / Number(link) * 1000;
      const ms = (v) => (v / 1000).toFixed(2) + " s";
      const mib = (v) => (v / 1048576).toFixed(1) + " MiB";
      console.log([label, run, ms(s.downtimeMs), s.lazyPages ? ms(s.phaseMs["lazy-pages"]) : "-", ms(s.totalMs), mib(s.bytesWire), mib(frozenWire),
        s.pagesReused + " / " + s.pagesSent,
        ms(f.downtimeMs), ms(floor), ms(bound), (s.downtimeMs / bound).toFixed(2) + "x",
        (Number(hwmSrc) / 1024).toFixed(0) + " MiB", (Number(hwmDst) / 1024).toFixed(0) + " MiB"].join(" | "));
    ' "$json" "$floor_json" "$label" "$i" "$LINK_MBPS" "$(hwm_kib node2)" "$(hwm_kib node1)")")
    echo "  ${RESULTS[-1]}"
  done
  if [ "$name" = bench-redis ]; then # sanity: the keys moved with it
    echo "  keys on node1 after the moves: $(lab exec node1 redis-cli -h 10.77.0.1 dbsize)"
  fi
  lab docker node1 rm -f "$name" >/dev/null
}

for n in node1 node2; do lab docker "$n" rm -f bench-mem bench-redis >/dev/null 2>&1 || true; done
# memhog MIB [churn PAGES_PER_MS]
memhog() {
  local label="memhog $1 MiB${3:+ churning $3 pages/ms}"
  echo "$label:"
  lab docker node1 run -d --name bench-mem livemig-testkit:latest memhog "$@" >/dev/null
  until lab docker node1 logs bench-mem 2>/dev/null | grep -q '^filled'; do sleep 0.5; done
  measure bench-mem "$label"
}
if [ "$MEM" = 1 ]; then
  for mib in $SIZES; do memhog "$mib"; done
  if [ "$CHURN" = 1 ]; then memhog 256 churn 8; fi
fi

if [ "$MEM" = 1 ] && [ "$REDIS" = 1 ]; then
  echo "redis-server, 200k keys:"
  redis_image
  lab docker node1 run -d --name bench-redis -p 6379:6379 livemig-redis:latest \
    redis-server --port 6379 --save '' --appendonly no --protected-mode no --enable-debug-command yes >/dev/null
  until lab exec node1 redis-cli -h 10.77.0.1 ping 2>/dev/null | grep -q PONG; do sleep 0.2; done
  lab exec node1 redis-cli -h 10.77.0.1 debug populate 200000 >/dev/null
  measure bench-redis "redis 200k keys"
fi

# The disk workloads: the first push of a container started normally (node1 -> node2) and the push
# back, each against the CRIU floor of the same counter without its volume (a --serial push there
# and back just before) plus what moved frozen at link speed.
DISK_RESULTS=()
PG_CHECK=''
COUNTER='i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done'
disk_row() { # LABEL RUN DIRECTION JSON FLOOR_JSON HWM_SRC HWM_DST
  node -e '
    const [label, run, dir, json, floorJson, hwmSrc, hwmDst, link] = process.argv.slice(1);
    const s = JSON.parse(json);
    const f = JSON.parse(floorJson);
    const floor = f.phaseMs.dump + f.phaseMs["criu-restore"];
    const bound = floor + s.frozenBytesWire / 1e6 / Number(link) * 1000;
    const ms = (v) => (v / 1000).toFixed(2) + " s";
    const mib = (v) => (v / 1048576).toFixed(1) + " MiB";
    const rounds = s.diskRounds.map((r) => mib(r.fileBytes)).join(" + ") || "-";
    const diskMs = s.diskRounds.reduce((n, r) => n + r.ms, 0);
    console.log([label, run, dir, ms(s.downtimeMs), ms(s.totalMs), rounds, ms(diskMs), mib(s.rootfsBytes + s.volumeBytes), mib(s.frozenBytesWire), mib(s.bytesWire),
      ms(floor), ms(bound), (s.downtimeMs / bound).toFixed(2) + "x", (Number(hwmSrc) / 1024).toFixed(0) + " MiB", (Number(hwmDst) / 1024).toFixed(0) + " MiB"].join(" | "));
  ' "$@" "$LINK_MBPS"
}
reset_hwm() { for n in node1 node2; do echo 5 > "/proc/$(cat "/run/livemig-lab/$n/agent.pid")/clear_refs"; done; }
# PostgreSQL 15 (scripts/server-images.sh) with 1 GiB of table data in a named volume, a client
# inserting (one connection per insert) all through the pushes; every insert it saw committed is
# checked on the destination. Frozen pages: what the dump sent of its memory (shared buffers:
# 128 MiB = 32768 pages).
pg_workload() {
  local i there back
  echo "postgres 1 GiB in a volume, inserting:"
  for n in node1 node2; do
    DOCKER_HOST="unix:///run/livemig-lab/$n/docker.sock" bash "$ROOT/scripts/server-images.sh" >/dev/null
    lab docker "$n" rm -f bench-pg >/dev/null 2>&1 || true; lab docker "$n" volume rm -f bench-pgdata >/dev/null 2>&1 || true
  done
  lab docker node1 run -d --name bench-pg -p 5432:5432 -v bench-pgdata:/var/lib/postgresql/data livemig-servers:latest livemig-postgres >/dev/null
  until lab exec node1 psql -h 10.77.0.1 -U postgres -qtAc 'select 1' >/dev/null 2>&1; do sleep 0.5; done
  lab exec node1 psql -h 10.77.0.1 -U postgres -qc "create table t (v bigint primary key, pad text); insert into t select -g, repeat('x', 200) from generate_series(1, 4500000) g; checkpoint" >/dev/null
  rm -f /tmp/livemig-pg-stop /tmp/livemig-pg-committed
  lab exec node1 bash -c 'i=0; while [ ! -e /tmp/livemig-pg-stop ]; do i=$((i + 1)); for h in 10.77.0.1 10.77.0.2; do
    if PGCONNECT_TIMEOUT=1 psql -h $h -U postgres -qtAX -v ON_ERROR_STOP=1 -c "insert into t values ($i, '"'"'live'"'"')" >/dev/null 2>&1; then echo $i >> /tmp/livemig-pg-committed; break; fi; done; done' &
  local client=$!
  for ((i = 1; i <= RUNS; i++)); do
    sleep 3
    reset_hwm
    there="$(lab cli node1 push bench-pg --to node2 --compress "$COMPRESS" --json $PUSH_FLAGS)"
    DISK_RESULTS+=("$(pg_row "$i" "first push" "$there" "$(hwm_kib node1)" "$(hwm_kib node2)")")
    echo "  ${DISK_RESULTS[-1]}"
    sleep 3
    reset_hwm
    back="$(lab cli node2 push bench-pg --to node1 --compress "$COMPRESS" --json $PUSH_FLAGS)"
    DISK_RESULTS+=("$(pg_row "$i" "push back" "$back" "$(hwm_kib node2)" "$(hwm_kib node1)")")
    echo "  ${DISK_RESULTS[-1]}"
  done
  sleep 2; touch /tmp/livemig-pg-stop; wait "$client" || true; rm -f /tmp/livemig-pg-stop
  local seen present lost
  seen="$(wc -l < /tmp/livemig-pg-committed)"
  present="$(lab exec node1 psql -h 10.77.0.1 -U postgres -qtAc 'select v from t where v > 0' | sort -n)"
  lost="$(sort -n /tmp/livemig-pg-committed | comm -23 - <(echo "$present") | wc -l)"
  PG_CHECK="postgres: $seen inserts seen committed during the pushes, $lost of them missing afterwards"
  echo "  $PG_CHECK"
  rm -f /tmp/livemig-pg-committed
  lab docker node1 rm -f bench-pg >/dev/null; lab docker node1 volume rm -f bench-pgdata >/dev/null
}
pg_row() { # RUN DIRECTION JSON HWM_SRC HWM_DST
  node -e '
    const [run, dir, json, hwmSrc, hwmDst, link] = process.argv.slice(1);
    const s = JSON.parse(json);
    const ms = (v) => (v / 1000).toFixed(2) + " s";
    const mib = (v) => (v / 1048576).toFixed(1) + " MiB";
    const rounds = s.diskRounds.map((r) => mib(r.fileBytes)).join(" + ") || "-";
    const diskMs = s.diskRounds.reduce((n, r) => n + r.ms, 0);
    console.log(["postgres 1 GiB, inserting", run, dir, ms(s.downtimeMs), ms(s.totalMs), rounds, ms(diskMs), mib(s.rootfsBytes + s.volumeBytes), mib(s.frozenBytesWire), mib(s.bytesWire),
      "frozen pages " + s.pagesSent + " (reused " + s.pagesReused + ")", "-", "-", (Number(hwmSrc) / 1024).toFixed(0) + " MiB", (Number(hwmDst) / 1024).toFixed(0) + " MiB"].join(" | "));
  ' "$@" "$LINK_MBPS"
}
# disk_workload LABEL SETUP_SCRIPT [WRITER_SCRIPT]: RUNS first pushes and pushes back.
disk_workload() {
  local label="$1" setup="$2" writer="${3:-}" i floor_there floor_back there back
  echo "$label:"
  for ((i = 1; i <= RUNS; i++)); do
    for n in node1 node2; do lab docker "$n" rm -f bench-disk bench-floor >/dev/null 2>&1 || true; lab docker "$n" volume rm -f bench-vol >/dev/null 2>&1 || true; done
    lab docker node1 run -d --name bench-floor busybox:latest sh -c "$COUNTER" >/dev/null
    lab docker node1 run -d --name bench-disk -v bench-vol:/data busybox:latest sh -c "$setup && touch /data/.ready
${writer}
$COUNTER" >/dev/null
    until lab docker node1 exec bench-disk test -e /data/.ready 2>/dev/null; do
      [ "$(lab docker node1 inspect -f '{{.State.Running}}' bench-disk)" = true ] || { lab docker node1 logs bench-disk >&2; exit 1; }
      sleep 0.5
    done
    sleep 2 # the writer at work, the page cache settled
    floor_there="$(lab cli node1 push bench-floor --to node2 --serial --compress "$COMPRESS" --json)"
    reset_hwm
    there="$(lab cli node1 push bench-disk --to node2 --compress "$COMPRESS" --json $PUSH_FLAGS)"
    DISK_RESULTS+=("$(disk_row "$label" "$i" "first push" "$there" "$floor_there" "$(hwm_kib node1)" "$(hwm_kib node2)")")
    echo "  ${DISK_RESULTS[-1]}"
    sleep 2
    floor_back="$(lab cli node2 push bench-floor --to node1 --serial --compress "$COMPRESS" --json)"
    reset_hwm
    back="$(lab cli node2 push bench-disk --to node1 --compress "$COMPRESS" --json $PUSH_FLAGS)"
    DISK_RESULTS+=("$(disk_row "$label" "$i" "push back" "$back" "$floor_back" "$(hwm_kib node2)" "$(hwm_kib node1)")")
    echo "  ${DISK_RESULTS[-1]}"
  done
  for n in node1 node2; do lab docker "$n" rm -f bench-disk bench-floor >/dev/null 2>&1 || true; lab docker "$n" volume rm -f bench-vol >/dev/null 2>&1 || true; done
}
if [ "$DISK" = 1 ] && [ "$PG_ONLY" = 0 ]; then
  disk_workload "counter + 512 MiB volume" 'head -c 536870912 /dev/urandom > /data/file'
  # 1 GiB rewritten in place (100 random 4 KiB blocks a second), 900 MiB more that stays, 20k
  # small files of which one is appended to and one replaced every 0.1 s.
  disk_workload "counter + 2 GiB volume, 100 writes/s" \
    'head -c 1073741824 /dev/urandom > /data/db && head -c 943718400 /dev/urandom > /data/static && mkdir /data/small && for n in $(seq 1 20000); do echo "file $n" > /data/small/f$n; done' \
    '(while :; do for k in 1 2 3 4 5 6 7 8 9 10; do dd if=/dev/urandom of=/data/db bs=4096 count=1 seek=$((RANDOM * 8 % 262144)) conv=notrunc 2>/dev/null; done; n=$((RANDOM % 20000 + 1)); echo more >> /data/small/f$n; echo new > /data/small/f$((n % 20000 + 1)).tmp && mv /data/small/f$((n % 20000 + 1)).tmp /data/small/f$((n % 20000 + 1)); sleep 0.1; done) &'
fi
if [ "$DISK" = 1 ] && [ "$PG" = 1 ]; then pg_workload; fi

CKPT_RESULTS=()
if [ "$CKPT" = 1 ]; then
  ckdir=/var/lib/livemig-lab/bench-checkpoints
  rm -rf "$ckdir"; mkdir -p -m 700 "$ckdir"
  for mib in $SIZES; do
    for c in none fast; do
      for ((i = 1; i <= RUNS; i++)); do
        lab docker node1 run -d --name bench-mem livemig-testkit:latest memhog "$mib" >/dev/null
        until lab docker node1 logs bench-mem 2>/dev/null | grep -q '^filled'; do sleep 0.5; done
        t0=$(date +%s%N)
        ck="$(lab cli node1 checkpoint bench-mem --out "$ckdir/m.ckpt" --compress "$c" --json)"
        t1=$(date +%s%N)
        rs="$(lab cli node1 restore "$ckdir/m.ckpt" --json)"
        t2=$(date +%s%N)
        CKPT_RESULTS+=("$(node -e '
          const [mib, c, run, ck, rs, t0, t1, t2] = process.argv.slice(1);
          const k = JSON.parse(ck), r = JSON.parse(rs);
          const s = (ns) => (Number(ns) / 1e9).toFixed(2) + " s";
          console.log([`memhog ${mib} MiB`, c, run, (k.bytes / 1048576).toFixed(1) + " MiB", s(BigInt(t1) - BigInt(t0)), (k.frozenMs / 1000).toFixed(2) + " s",
            s(BigInt(t2) - BigInt(t1)), (r.restoreMs / 1000).toFixed(2) + " s", s(BigInt(t2) - BigInt(t0))].join(" | "));
        ' "$mib" "$c" "$i" "$ck" "$rs" "$t0" "$t1" "$t2")")
        echo "  ${CKPT_RESULTS[-1]}"
        lab docker node1 rm -f bench-mem >/dev/null
        rm -f "$ckdir/m.ckpt"
      done
    done
  done
  rm -rf "$ckdir"
  echo
  echo "| workload | compress | run | file | checkpoint (CLI) | frozen to file verified | restore (CLI) | criu restore | checkpoint + restore |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for r in "${CKPT_RESULTS[@]}"; do echo "| $r |"; done
fi

JVM_RESULTS=()
# first_answer PORT: seconds (ns) until GET /count on node1's PORT answers.
first_answer() { until lab exec node1 curl -sf --max-time 1 "http://10.77.0.1:$1/count" >/dev/null 2>&1; do sleep 0.02; done; date +%s%N; }
if [ "$JVM" = 1 ]; then
  echo "JVM service, cold start vs restore --image:"
  DOCKER_HOST=unix:///run/livemig-lab/node1/docker.sock bash "$ROOT/scripts/server-images.sh" >/dev/null
  for ((i = 1; i <= RUNS; i++)); do
    lab docker node1 rm -f bench-jvm bench-jvm-src >/dev/null 2>&1 || true
    lab docker node1 rmi -f livemig-bench-jvm:warm >/dev/null 2>&1 || true
    t0=$(date +%s%N)
    lab docker node1 run -d --name bench-jvm -p 8090:8080 -e WARM_ROUNDS="$JVM_WARM_ROUNDS" livemig-servers:latest livemig-jvm >/dev/null
    t1=$(first_answer 8090)
    warm="$(lab docker node1 logs bench-jvm 2>/dev/null | sed -n 's/^READY in \([0-9]*\) ms.*/\1/p')"
    lab docker node1 rm -f bench-jvm >/dev/null
    # The checkpoint: taken the moment the service prints READY, into an image.
    lab docker node1 run -d --name bench-jvm-src -p 8090:8080 -e WARM_ROUNDS="$JVM_WARM_ROUNDS" livemig-servers:latest livemig-jvm >/dev/null
    ck="$(lab cli node1 checkpoint bench-jvm-src --when-log '^READY' --image livemig-bench-jvm:warm --json)"
    t2=$(date +%s%N)
    lab cli node1 restore --image livemig-bench-jvm:warm --name bench-jvm >/dev/null
    t3=$(first_answer 8090)
    JVM_RESULTS+=("$(node -e '
      const [run, ck, t0, t1, t2, t3, warm] = process.argv.slice(1);
      const k = JSON.parse(ck);
      const s = (ns) => (Number(ns) / 1e9).toFixed(2) + " s";
      const cold = BigInt(t1) - BigInt(t0), again = BigInt(t3) - BigInt(t2);
      console.log([run, (Number(warm) / 1000).toFixed(2) + " s", s(cold), s(again), (Number(cold) / Number(again)).toFixed(1) + "x", (k.bytes / 1048576).toFixed(1) + " MiB"].join(" | "));
    ' "$i" "$ck" "$t0" "$t1" "$t2" "$t3" "$warm")")
    echo "  ${JVM_RESULTS[-1]}"
    lab docker node1 rm -f bench-jvm >/dev/null
    lab docker node1 rmi -f livemig-bench-jvm:warm >/dev/null 2>&1 || true
  done
  echo
  echo "| run | its warm-up (READY in) | docker run to first answer | restore --image to first answer | faster | checkpoint file |"
  echo "| --- | --- | --- | --- | --- | --- |"
  for r in "${JVM_RESULTS[@]}"; do echo "| $r |"; done
fi

if [ "$MEM" = 1 ]; then
echo
echo "| workload | run | downtime | memory in after | total | wire | wire frozen | pages reused / sent | --serial downtime | CRIU floor (dump+restore) | floor + frozen wire/link | downtime / bound | src agent peak RSS | dst agent peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for r in "${RESULTS[@]}"; do echo "| $r |"; done
fi
if [ "$DISK" = 1 ]; then
  echo
  echo "| workload | run | push | downtime | total | disk rounds (file data) | rounds time | file data frozen | wire frozen | wire | CRIU floor without the volume | floor + frozen wire/link | downtime / bound | src agent peak RSS | dst agent peak RSS |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for r in "${DISK_RESULTS[@]}"; do echo "| $r |"; done
  echo
  echo "$PG_CHECK"
fi
drain_workload() {
  local c names=() t0 t1 json
  echo "drain of 10 containers:"
  redis_image
  for c in 1 2 3 4; do lab docker node1 run -d --name "bench-d-idle$c" livemig-testkit:latest memhog 64 >/dev/null; names+=("bench-d-idle$c"); done
  for c in 1 2 3; do lab docker node1 run -d --name "bench-d-busy$c" livemig-testkit:latest memhog 256 churn 8 >/dev/null; names+=("bench-d-busy$c"); done
  lab docker node1 run -d --name bench-d-redis livemig-redis:latest redis-server --port 6380 --save '' --appendonly no >/dev/null
  lab docker node1 run -d --name bench-d-counter busybox:latest sh -c 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done' >/dev/null
  lab docker node1 run -d --name bench-d-host --network host busybox:latest sleep 100000 >/dev/null
  names+=(bench-d-redis bench-d-counter)
  for c in "${names[@]}"; do case "$c" in *idle*|*busy*) until lab docker node1 logs "$c" 2>/dev/null | grep -q '^filled'; do sleep 0.5; done ;; esac; done
  local singles; singles="$(mktemp /tmp/livemig-bench-drain.XXXXXX)"
  t0="$(date +%s%N)"
  for c in "${names[@]}" bench-d-host; do lab cli node1 push "$c" --to node2 --compress "$COMPRESS" --json 2>/dev/null >> "$singles" || true; done
  t1="$(date +%s%N)"
  lab cli node2 drain --to node1 --filter 'name=bench-d-*' >/dev/null || true # back, not measured
  json="$(lab cli node1 drain --to node2 --filter 'name=bench-d-*' ${DRAIN_PARALLEL:+--parallel "$DRAIN_PARALLEL"} --json 2>/dev/null || true)"
  node -e '
    const [singlesText, drainJson, serialNs, parallel] = process.argv.slice(1);
    const singles = {};
    for (const m of singlesText.split(/\n(?=\{)/).filter((t) => t.trim())) { const s = JSON.parse(m); singles[s.container] = s; }
    const d = JSON.parse(drainJson);
    const serialMs = Number(serialNs) / 1e6;
    const sec = (v) => (v / 1000).toFixed(2) + " s";
    console.log("| container | single push downtime | drain downtime | ratio | drain result |");
    console.log("| --- | --- | --- | --- | --- |");
    let worst = 0;
    for (const r of d.results) {
      const s = singles[r.container];
      const ratio = s && r.result === "moved" ? r.downtimeMs / s.downtimeMs : NaN;
      if (ratio > worst) worst = ratio;
      console.log(`| ${r.container} | ${s ? sec(s.downtimeMs) : "refused"} | ${r.result === "moved" ? sec(r.downtimeMs) : "-"} | ${Number.isNaN(ratio) ? "-" : ratio.toFixed(2) + "x"} | ${r.result}${r.reason ? ": " + r.reason.slice(0, 60) : ""} |`);
    }
    console.log();
    console.log(`10 pushes in a row ${sec(serialMs)}, drain (--parallel ${parallel}) ${sec(d.totals.totalMs)}: ${(d.totals.totalMs / serialMs).toFixed(2)}x (target <= 0.6x); worst downtime ratio ${worst.toFixed(2)}x (target <= 1.25x)`);
  ' "$(cat "$singles")" "$json" "$((t1 - t0))" "${DRAIN_PARALLEL:-default}"
  rm -f "$singles"
  for n in node1 node2; do lab docker "$n" rm -f "${names[@]}" bench-d-host >/dev/null 2>&1 || true; done
}
if [ "$DRAIN" = 1 ]; then drain_workload; fi

echo
echo "link ${LINK_MBPS} MB/s; --compress ${COMPRESS}${PUSH_FLAGS:+;$PUSH_FLAGS}; target: downtime / bound <= 1.25, agent peak RSS < 200 MiB"
