// The disk pre-copy: a container's volumes and upper dir go in rounds while it runs; frozen, only
// what changed since the last round goes. A container that keeps changing its files all through
// the push ends up on the destination exactly as a replay of the same steps makes them.
import fs from 'node:fs';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { docker, lab, pushInBackground, removeEverywhere, sh, state, tryDocker, waitFor, type PushSummary } from './lab';

/**
 * A deterministic writer: step i changes the volume (/data) and the upper dir (/work) in one of
 * eight ways (create, append, rewrite 4 KiB in the middle of a 64 MiB file, rename, hard link,
 * chmod/chown, delete, truncate, mkdir), so the tree after N steps is a function of N alone.
 * `/data/.stop` makes it finish its step and write N to /data/.stopped; with STEPS=N it replays N
 * steps and exits.
 */
const WRITER = `
set -u
step() {
  i=$1
  case $((i % 8)) in
  0) echo "file $i" > /data/files/f$i ;;
  1) echo "line $i" >> /data/log; echo "w $i" >> /work/wlog ;;
  2) yes "$i" | head -c 4096 | dd of=/data/big bs=4096 seek=$(( (i * 37) % 16384 )) count=1 conv=notrunc 2>/dev/null ;;
  3) [ -e /data/files/f$((i - 3)) ] && mv /data/files/f$((i - 3)) /data/files/r$i ;;
  4) [ -e /data/files/r$((i - 1)) ] && ln /data/files/r$((i - 1)) /data/files/h$i ;;
  5) [ -e /data/files/r$((i - 2)) ] && chmod 600 /data/files/r$((i - 2)); chown 1000:1000 /work/wlog ;;
  6) rm -f /data/files/h$((i - 18)) /data/files/r$((i - 19)) /data/small/s$((i / 8)) ;;
  7) dd if=/dev/null of=/data/trunc bs=1 seek=$(( (i * 13) % 5000 )) 2>/dev/null
     rm -rf /work/d$(( (i / 8 + 3) % 5 )); mkdir -p /work/d$(( (i / 8) % 5 )); echo "$i" > /work/d$(( (i / 8) % 5 ))/x ;;
  esac
}
mkdir -p /data/files /data/small /work
yes abcdefgh | head -c 67108864 > /data/big
yes 0123456789 | head -c 4000 > /data/trunc
for n in $(seq 1 2000); do echo "small $n" > /data/small/s$n; done
i=0
while :; do
  if [ -n "\${STEPS:-}" ]; then [ "$i" -ge "$STEPS" ] && exit 0
  elif [ -e /data/.stop ]; then echo "$i" > /data/.stopped; exec sleep 3600
  fi
  i=$((i + 1)); step $i; echo "$i" > /data/.step
  [ -n "\${STEPS:-}" ] || sleep 0.02
done
`;

/** A digest of /data and /work as the container sees them: names, types, modes, owners, sizes, link counts, contents. */
const DIGEST = `
cd / && find /data /work ! -name .step ! -name .stop ! -name .stopped | sort > /tmp/list
xargs stat -c '%n %F %a %u %g %s %h' < /tmp/list > /tmp/meta
grep -v ' directory ' /tmp/meta | grep ' regular' | cut -d' ' -f1 | xargs sha256sum > /tmp/sums
cat /tmp/meta /tmp/sums | sha256sum | cut -c1-64
`;

function stepOf(node: string, name: string): number {
  const r = tryDocker(node, 'exec', name, 'cat', '/data/.step');
  return r.code === 0 ? Number(r.stdout.trim()) : 0;
}

/** A container "rounds" whose volume gets one file of `bytes` from `source`; its digest and start time. */
async function startWithData(source: string, bytes: number): Promise<{ file: string; sum: string; startedAt: string | undefined }> {
  const file = '/data/bulk';
  docker('node1', 'run', '-d', '--name', 'rounds', '-v', 'rounds-data:/data', 'busybox:latest', 'sh', '-c',
    `${source} | head -c ${bytes} > ${file} && sha256sum ${file} > /data/sum.tmp && mv /data/sum.tmp /data/sum && exec sleep 3600`);
  await waitFor('its data written', () => tryDocker('node1', 'exec', 'rounds', 'cat', '/data/sum').code === 0, 120_000);
  return { file, sum: docker('node1', 'exec', 'rounds', 'cat', '/data/sum'), startedAt: state('node1', 'rounds')?.startedAt };
}

/** The push failed before the freeze, in one line: "rounds" runs on node1 as it was, with its data. */
function expectNeverFrozen(r: { code: number; stdout: string; stderr: string }, was: { file: string; sum: string; startedAt: string | undefined }): void {
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stdout).not.toMatch(/dump\.\.\./); // it never got to the freeze
  expect(state('node1', 'rounds')?.running).toBe(true);
  expect(state('node1', 'rounds')?.startedAt).toBe(was.startedAt);
  expect(docker('node1', 'exec', 'rounds', 'sha256sum', was.file)).toBe(was.sum);
}

function removeAll(): void {
  removeEverywhere('rounds', 'rounds-ref');
  for (const node of ['node1', 'node2']) for (const v of ['rounds-data', 'rounds-ref-data']) tryDocker(node, 'volume', 'rm', '-f', v);
}

describe('disk state in rounds while the container runs', () => {
  beforeEach(removeAll);
  afterAll(removeAll);

  it('ends up as the source was at the freeze: creates, appends, in-place rewrites, renames, links, chmod/chown, deletes, truncation', async () => {
    docker('node1', 'run', '-d', '--name', 'rounds', '-v', 'rounds-data:/data', 'busybox:latest', 'sh', '-c', WRITER);
    await waitFor('the writer to be at work', () => stepOf('node1', 'rounds') >= 20, 60_000);
    const r = await pushInBackground('node1', 'rounds', 'node2', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as PushSummary;
    // The volume went while the writer ran; frozen, only the last changes.
    expect(s.diskRounds.length).toBeGreaterThanOrEqual(1);
    expect(s.diskRounds[0].fileBytes).toBeGreaterThan(64 * 1024 * 1024);
    expect(s.volumeBytes + s.rootfsBytes).toBeLessThan(8 * 1024 * 1024);
    expect(state('node1', 'rounds')).toBeNull();
    // The writer goes on over there, from where it was.
    const moved = stepOf('node2', 'rounds');
    await waitFor('the writer to go on on node2', () => stepOf('node2', 'rounds') > moved + 5, 30_000);
    docker('node2', 'exec', 'rounds', 'touch', '/data/.stop');
    const n = await waitFor('the writer to stop', () => {
      const got = tryDocker('node2', 'exec', 'rounds', 'cat', '/data/.stopped');
      return got.code === 0 && Number(got.stdout.trim());
    }, 30_000);
    const there = docker('node2', 'exec', 'rounds', 'sh', '-c', DIGEST);

    // The same steps replayed from the start in a fresh container.
    docker('node2', 'run', '--name', 'rounds-ref', '-e', `STEPS=${n}`, '-v', 'rounds-ref-data:/data', 'busybox:latest', 'sh', '-c', WRITER);
    // Its /work is in its upper dir: digested from an image of it, with the same volume.
    docker('node2', 'commit', 'rounds-ref', 'rounds-ref:replayed');
    const reference = docker('node2', 'run', '--rm', '-v', 'rounds-ref-data:/data', 'rounds-ref:replayed', 'sh', '-c', DIGEST);
    docker('node2', 'rmi', 'rounds-ref:replayed');
    expect(there).toBe(reference);
  }, 300_000);

  it('the destination agent killed during a round: never frozen, the source runs on with its data, nothing left', async () => {
    const was = await startWithData('yes 0123456789abcdef', 1073741824);
    const volume = '/var/lib/livemig-lab/node2/docker/volumes/rounds-data/_data/bulk';
    const pushing = pushInBackground('node1', 'rounds', 'node2');
    let done = false;
    void pushing.then(() => (done = true));
    await waitFor('the first round to arrive', () => done || (fs.existsSync(volume) && fs.statSync(volume).size > 64 * 1024 * 1024), 60_000, 20);
    expect(done, 'the push ended before its first round was in').toBe(false);
    expect(lab('kill-agent', 'node2').code).toBe(0);
    expectNeverFrozen(await pushing, was);
    // node2's agent comes back and removes its half-made container and volume.
    expect(lab('up').code).toBe(0);
    await waitFor('node2 clean', () => state('node2', 'rounds') === null && tryDocker('node2', 'volume', 'inspect', 'rounds-data').code !== 0, 30_000);
  }, 300_000);

  it('the destination disk full during a round: never frozen, the source runs on with its data, nothing left', async () => {
    const was = await startWithData('cat /dev/urandom', 200000000);
    // node2's volumes on a 64 MiB filesystem, for this test only: the 200 MB (incompressible)
    // first round fills it. Docker keeps its volume database open underneath, so it goes on.
    const volumes = '/var/lib/livemig-lab/node2/docker/volumes';
    expect(sh('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0701', 'livemig-test-full', volumes]).code).toBe(0);
    try {
      const r = await pushInBackground('node1', 'rounds', 'node2');
      expect(r.stderr).toMatch(/no space left|ENOSPC/i);
      expectNeverFrozen(r, was);
      await waitFor('node2 clean', () => state('node2', 'rounds') === null && tryDocker('node2', 'volume', 'inspect', 'rounds-data').code !== 0, 30_000);
      expect(fs.readdirSync(volumes)).toEqual([]);
    } finally {
      sh('umount', [volumes]);
    }
  }, 300_000);
});
