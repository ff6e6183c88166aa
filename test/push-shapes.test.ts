// Everyday `docker run` shapes moved as they are: --init, --read-only with --tmpfs, fixed
// addresses on user-defined networks; and the shapes refused before the freeze with one line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, consecutiveFromOne, docker, logs, push, removeEverywhere, sh, state, tryDocker, waitFor } from './lab';

const NODES = ['node1', 'node2'];
const NAMES = ['shape-init', 'shape-ro', 'shape-fixed', 'shape-client', 'shape-lonely', 'shape-squat', 'shape-taken', 'shape-exec'];
const NET = 'shape-net';     // on both nodes, same subnet
const BACK = 'shape-back';   // on both nodes: a second network of one container
const ONLY1 = 'shape-only1'; // on node1 only

/** The counter's lines: a number first on each; returns how many, or throws at a gap. */
function counted(node: string, name: string): number {
  return consecutiveFromOne(logs(node, name).filter((l) => /^\d+/.test(l)).map((l) => l.split(' ')[0]));
}

/** Waits until the counter on `node` has gone past `n` (it runs there). */
function countsPast(node: string, name: string, n: number): Promise<number> {
  return waitFor(`${name} counting past ${n} on ${node}`, () => {
    const now = counted(node, name);
    return now > n + 2 && now;
  });
}

/** A refused push: one line naming why, non-zero exit, the container untouched and nothing made on node2. */
function expectRefused(name: string, pattern: RegExp): void {
  const before = state('node1', name);
  const r = cli('node1', 'push', name, '--to', 'node2');
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(state('node1', name)).toEqual(before); // same PID, same start: never frozen and resumed
  expect(state('node2', name)).toBeNull();
}

const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done';

describe('push moves everyday container shapes', () => {
  beforeAll(() => {
    removeEverywhere(...NAMES);
    for (const node of NODES) {
      for (const n of [NET, BACK, ONLY1]) tryDocker(node, 'network', 'rm', n);
      docker(node, 'network', 'create', '--subnet', '172.31.78.0/24', NET);
      docker(node, 'network', 'create', '--ipv6', '--subnet', '172.31.79.0/24', '--subnet', 'fd00:79::/64', BACK);
    }
    docker('node1', 'network', 'create', '--subnet', '172.31.80.0/24', ONLY1);
  });
  afterAll(() => {
    removeEverywhere(...NAMES);
    for (const node of NODES) for (const n of [NET, BACK, ONLY1]) tryDocker(node, 'network', 'rm', n);
  });

  it('--init: tini and the app below it move, and docker stop ends it cleanly on the destination', async () => {
    // The trap shows the SIGTERM reached the app through the helper and tini.
    docker('node1', 'run', '-d', '--init', '--name', 'shape-init', 'busybox:latest', 'sh', '-c',
      `trap 'echo stopped at $i; exit 0' TERM; ${COUNTER}`);
    await countsPast('node1', 'shape-init', 3);
    push('node1', 'shape-init', 'node2');
    const moved = await countsPast('node2', 'shape-init', counted('node2', 'shape-init'));
    expect(docker('node2', 'top', 'shape-init')).toMatch(/\/sbin\/docker-init -- sh -c/);

    // And back: a migrated --init container moves again (tini behind the helper there).
    push('node2', 'shape-init', 'node1');
    await countsPast('node1', 'shape-init', moved);
    push('node1', 'shape-init', 'node2');
    await countsPast('node2', 'shape-init', counted('node2', 'shape-init'));

    const t0 = Date.now();
    docker('node2', 'stop', '-t', '10', 'shape-init');
    const stopMs = Date.now() - t0;
    expect(stopMs).toBeLessThan(5_000); // not the 10 s timeout's SIGKILL
    expect(state('node2', 'shape-init')?.exitCode).toBe(0);
    const last = logs('node2', 'shape-init').pop();
    expect(last).toMatch(/^stopped at \d+$/);
    counted('node2', 'shape-init'); // 1..n without a gap or a restart, over three moves

    // A later start runs the original command fresh, with tini as PID 1 as Docker's --init has it.
    docker('node2', 'start', 'shape-init');
    expect(docker('node2', 'exec', 'shape-init', 'cat', '/proc/1/cmdline').replace(/\0/g, ' ')).toMatch(/^\/sbin\/docker-init -- sh -c trap/);
  });

  it('--read-only with --tmpfs and --mount type=tmpfs: the tmpfs content moves, stays writable, the root stays read-only', async () => {
    // The counter lives on the tmpfs: it goes on from there only if the tmpfs content moved.
    docker('node1', 'run', '-d', '--read-only', '--tmpfs', '/tmp', '--mount', 'type=tmpfs,destination=/run,tmpfs-size=8388608', '--name', 'shape-ro',
      'busybox:latest', 'sh', '-c',
      'echo kept-on-tmpfs > /run/mark; echo 0 > /tmp/count; while true; do ' +
      'i=$(($(cat /tmp/count)+1)); echo $i > /tmp/count; ' +
      'echo $i $(cat /run/mark) $(touch /root-write 2>/dev/null && echo rw || echo ro); sleep 0.2; done');
    await countsPast('node1', 'shape-ro', 3);
    push('node1', 'shape-ro', 'node2');
    const n = await countsPast('node2', 'shape-ro', counted('node2', 'shape-ro'));
    const line = logs('node2', 'shape-ro').filter((l) => /^\d+ /.test(l))[n - 1];
    expect(line).toBe(`${n} kept-on-tmpfs ro`);
    // docker exec sees the application's tmpfs, not a fresh one: one tmpfs, written from either side.
    expect(Number(docker('node2', 'exec', 'shape-ro', 'cat', '/tmp/count'))).toBeGreaterThanOrEqual(n);
    docker('node2', 'exec', 'shape-ro', 'sh', '-c', 'echo written-by-exec > /run/mark');
    await waitFor('the app reading what docker exec wrote', () => logs('node2', 'shape-ro').some((l) => l.endsWith(' written-by-exec ro')));
    expect(tryDocker('node2', 'exec', 'shape-ro', 'touch', '/x').stderr).toMatch(/Read-only file system/);
    expect(docker('node2', 'inspect', '-f', '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.Tmpfs}}', 'shape-ro'))
      .toBe('true {"/run":"size=8388608","/tmp":""}'); // --mount type=tmpfs carried as --tmpfs
  });

  it('a fixed --ip and --ip6 on user networks: same addresses, alias and a server on the address answer', async () => {
    docker('node1', 'run', '-d', '--name', 'shape-fixed', '--network', NET, '--ip', '172.31.78.50', '--network-alias', 'web',
      'busybox:latest', 'sh', '-c',
      `mkdir -p /www && echo served-$(hostname) > /www/index.html && httpd -p 172.31.78.50:8080 -h /www; ${COUNTER}`);
    docker('node1', 'network', 'connect', '--ip', '172.31.79.60', '--ip6', 'fd00:79::60', '--alias', 'web-back', BACK, 'shape-fixed');
    const served = docker('node1', 'run', '--rm', '--network', NET, 'busybox:latest', 'wget', '-qO-', 'http://web:8080/');
    await countsPast('node1', 'shape-fixed', 3);

    push('node1', 'shape-fixed', 'node2');
    await countsPast('node2', 'shape-fixed', counted('node2', 'shape-fixed'));
    const addresses = docker('node2', 'inspect', '-f',
      `{{(index .NetworkSettings.Networks "${NET}").IPAddress}} {{(index .NetworkSettings.Networks "${BACK}").IPAddress}} {{(index .NetworkSettings.Networks "${BACK}").GlobalIPv6Address}}`,
      'shape-fixed');
    expect(addresses).toBe('172.31.78.50 172.31.79.60 fd00:79::60');
    // The listening socket bound to the fixed address was restored, found by its alias.
    expect(docker('node2', 'run', '--rm', '--network', NET, 'busybox:latest', 'wget', '-qO-', 'http://web:8080/')).toBe(served);
    const ping = (family: string): string => docker('node2', 'run', '--rm', '--network', BACK, 'busybox:latest', 'ping', family, '-c1', '-W2', 'web-back');
    expect(ping('-4')).toMatch(/PING web-back \(172\.31\.79\.60\)[^]*1 packets received/);
    expect(ping('-6')).toMatch(/PING web-back \(fd00:79::60\)[^]*1 packets received/);
  });

  it('refuses before the freeze a network the destination lacks, or an address taken there', () => {
    docker('node1', 'run', '-d', '--name', 'shape-lonely', '--network', ONLY1, 'busybox:latest', 'sh', '-c', COUNTER);
    expectRefused('shape-lonely', /network shape-only1 does not exist on node2$/);

    docker('node2', 'run', '-d', '--name', 'shape-squat', '--network', NET, '--ip', '172.31.78.51', 'busybox:latest', 'sleep', '1000');
    docker('node1', 'run', '-d', '--name', 'shape-taken', '--network', NET, '--ip', '172.31.78.51', 'busybox:latest', 'sh', '-c', COUNTER);
    expectRefused('shape-taken', /address 172\.31\.78\.51 \(--ip\) on network shape-net is taken on node2$/);
  });

  it('refuses a running docker exec session by name before the freeze, and moves once it ended', async () => {
    docker('node1', 'run', '-d', '--name', 'shape-exec', 'busybox:latest', 'sh', '-c', COUNTER);
    docker('node1', 'exec', '-d', 'shape-exec', 'sleep', '999');
    const r = cli('node1', 'push', 'shape-exec', '--to', 'node2');
    expect(r.code).not.toBe(0);
    const m = r.stderr.trim().match(/^migrate-cli: error: container shape-exec has a docker exec session running \(PID (\d+): sleep 999\), which cannot be migrated: end it and push again$/);
    expect(m, r.stderr).not.toBeNull();
    expect(state('node2', 'shape-exec')).toBeNull();
    const before = counted('node1', 'shape-exec');

    expect(sh('kill', [m![1]]).code).toBe(0); // its host PID, as the line named it
    await waitFor('the exec session gone', () => !docker('node1', 'top', 'shape-exec').includes('sleep 999'));
    push('node1', 'shape-exec', 'node2');
    await countsPast('node2', 'shape-exec', Math.max(before, counted('node2', 'shape-exec')));
  });
});
