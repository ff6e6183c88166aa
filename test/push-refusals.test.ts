import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, docker, lab, removeEverywhere, sh, startCounter, state, tryDocker } from './lab';

/**
 * Runs `fn` with a node's checkpoint space, both its agent's migrations dir on disk and its
 * memory scratch dir, on 16 MiB tmpfs mounts.
 */
function withSmallDisk(node: string, fn: () => void): void {
  const dirs = [`/var/lib/livemig-lab/${node}/agent/migrations`, `/dev/shm/livemig-lab/${node}`];
  for (const dir of dirs) {
    fs.mkdirSync(dir, { recursive: true });
    expect(sh('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'livemig-test-small', dir]).code).toBe(0);
  }
  try {
    fn();
    for (const dir of dirs) expect(fs.readdirSync(dir)).toEqual([]);
  } finally {
    for (const dir of dirs) sh('umount', [dir]);
  }
}

/** A refused push: one clear line, non-zero exit, and the container untouched. */
function expectRefused(node: string, container: string, to: string, pattern: RegExp): void {
  const before = state(node, container);
  const r = cli(node, 'push', container, '--to', to);
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^migrate-cli: error: /);
  expect(lines[0]).toMatch(pattern);
  const after = state(node, container);
  expect(after).toEqual(before); // same running state, same PID, same start time
}

const BIND = '/tmp/livemig-refusals-bind';

describe('push refuses bad input before freezing anything', () => {
  const names = ['victim', 'stopped', 'taken', 'hostnet', 'localonly', 'unconfined', 'ptrace', 'bound'];
  beforeAll(() => {
    removeEverywhere(...names);
    tryDocker('node1', 'rmi', 'livemig-local-only:latest');
    startCounter('node1', 'victim');
  });
  afterAll(() => {
    removeEverywhere(...names);
    fs.rmSync(BIND, { recursive: true, force: true });
    tryDocker('node1', 'rmi', 'livemig-local-only:latest');
  });

  it('an unknown container', () => {
    const r = cli('node1', 'push', 'no-such-container', '--to', 'node2');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('migrate-cli: error: no such container: no-such-container on node1');
  });

  // A stopped container (exited or created) is not refused: it moves cold (push-cold.test.ts).
  it('a paused container', () => {
    docker('node1', 'run', '-d', '--name', 'stopped', 'busybox:latest', 'sleep', '1000');
    docker('node1', 'pause', 'stopped');
    expectRefused('node1', 'stopped', 'node2', /container stopped is paused/);
    docker('node1', 'unpause', 'stopped');
  });

  it('an unreachable destination', () => {
    expectRefused('node1', 'victim', 'nowhere', /cannot reach agent at nowhere:7411/);
    expectRefused('node1', 'victim', '10.77.0.2:9999', /cannot reach agent at 10\.77\.0\.2:9999/);
    expect(state('node2', 'victim')).toBeNull();
  });

  it('a base image missing on the destination', () => {
    docker('node1', 'run', '-d', '--name', 'localonly', 'busybox:latest', 'sleep', '1000');
    docker('node1', 'commit', 'localonly', 'livemig-local-only:latest');
    docker('node1', 'rm', '-f', 'localonly');
    docker('node1', 'run', '-d', '--name', 'localonly', 'livemig-local-only:latest', 'sleep', '1000');
    expectRefused('node1', 'localonly', 'node2', /base image livemig-local-only:latest \(sha256:[0-9a-f]{12}\) is missing on node2/);
  });

  it('a name taken on the destination', () => {
    docker('node1', 'run', '-d', '--name', 'taken', 'busybox:latest', 'sleep', '1000');
    docker('node2', 'run', '-d', '--name', 'taken', 'busybox:latest', 'sleep', '1000');
    const theirs = state('node2', 'taken');
    expectRefused('node1', 'taken', 'node2', /a container named taken already exists on node2/);
    expect(state('node2', 'taken')).toEqual(theirs);
  });

  it('a container on the host network', () => {
    docker('node1', 'run', '-d', '--name', 'hostnet', '--network', 'host', 'busybox:latest', 'sleep', '1000');
    expectRefused('node1', 'hostnet', 'node2', /uses the host network namespace \(--network host\), which cannot be migrated/);
  });

  // The spec policy (spec-policy.ts): the source refuses what no destination runs; binds and extra
  // capabilities are each destination's choice, refused by its Prepare, still before the freeze.
  it('what the spec policy refuses, on the source or at the destination\'s Prepare', () => {
    const sleeper = (name: string, ...args: string[]): void => {
      docker('node1', 'run', '-d', '--name', name, ...args, 'busybox:latest', 'sleep', '1000');
    };
    sleeper('unconfined', '--security-opt', 'seccomp=unconfined');
    expectRefused('node1', 'unconfined', 'node2', /container unconfined uses --security-opt seccomp=unconfined, which cannot be migrated$/);
    sleeper('ptrace', '--cap-add', 'SYS_PTRACE');
    expectRefused('node1', 'ptrace', 'node2',
      /container spec refused on node2: hostConfig\.CapAdd: --cap-add SYS_PTRACE \(a destination allows it with --allow-cap SYS_PTRACE\)$/);
    fs.mkdirSync(BIND, { recursive: true });
    sleeper('bound', '-v', `${BIND}:/data`);
    expectRefused('node1', 'bound', 'node2', new RegExp(`container spec refused on node2: mounts\\[0\\]: a bind mount of ${BIND} `));
    for (const name of ['unconfined', 'ptrace', 'bound']) expect(state('node2', name)).toBeNull();
  });

  it('a destination started with --allow-bind PREFIX takes a bind mount under it', () => {
    expect(lab('restart-agent', 'node2', '--allow-bind', path.dirname(BIND)).code).toBe(0);
    try {
      const r = cli('node1', 'push', 'bound', '--to', 'node2');
      expect(r.code, r.stderr).toBe(0);
      expect(state('node2', 'bound')?.running).toBe(true);
    } finally {
      lab('restart-agent', 'node2');
    }
  });

  it('not enough disk for the checkpoint, on the source or on the destination', () => {
    withSmallDisk('node1', () => expectRefused('node1', 'victim', 'node2', /not enough disk on node1 for the checkpoint of victim: \d+ bytes free .*, and it does not fit in memory \(\/dev\/shm\/livemig-lab\/node1\) either$/));
    withSmallDisk('node2', () => expectRefused('node1', 'victim', 'node2', /not enough disk on node2: \d+ bytes free .*, and it does not fit in memory \(\/dev\/shm\/livemig-lab\/node2\) either$/));
    expect(state('node2', 'victim')).toBeNull();
  });

  it('a bad --compress value', () => {
    const r = cli('node1', 'push', 'victim', '--to', 'node2', '--compress', 'fast9');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^migrate-cli: error: --compress takes "none", "fast", fast1-fast7 or a zstd level 1-19, not "fast9"$/);
  });
});
