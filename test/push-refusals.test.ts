import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, docker, removeEverywhere, sh, startCounter, state, tryDocker } from './lab';

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

describe('push refuses bad input before freezing anything', () => {
  const names = ['victim', 'stopped', 'taken', 'hostnet', 'localonly'];
  beforeAll(() => {
    removeEverywhere(...names);
    tryDocker('node1', 'rmi', 'livemig-local-only:latest');
    startCounter('node1', 'victim');
  });
  afterAll(() => {
    removeEverywhere(...names);
    tryDocker('node1', 'rmi', 'livemig-local-only:latest');
  });

  it('an unknown container', () => {
    const r = cli('node1', 'push', 'no-such-container', '--to', 'node2');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('migrate-cli: error: no such container: no-such-container on node1');
  });

  it('a stopped container', () => {
    docker('node1', 'create', '--name', 'stopped', 'busybox:latest', 'sleep', '1000');
    expectRefused('node1', 'stopped', 'node2', /container stopped is not running \(created\)/);
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
