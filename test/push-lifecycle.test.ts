import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ROOT, consecutiveFromOne, docker, inNode, logs, push, removeEverywhere, sh, sleep, startCounter, state, waitFor } from './lab';

/** What a node holds that a finished migration must not leave behind. */
function footprint(node: string): { containers: string; mounts: number; migrations: string[] } {
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .filter((l) => l.includes(`/var/lib/livemig-lab/${node}/docker/overlay2/`)).length;
  const dir = `/var/lib/livemig-lab/${node}/agent/migrations`;
  return {
    containers: docker(node, 'ps', '-a', '--format', '{{.Names}} {{.State}}'),
    mounts,
    migrations: fs.existsSync(dir) ? fs.readdirSync(dir) : [],
  };
}

/** Docker's per-container cgroups must belong to containers that still exist. */
function strayCgroups(): string[] {
  const ids = new Set(['node1', 'node2'].flatMap((n) => docker(n, 'ps', '-aq', '--no-trunc').split('\n').filter(Boolean)));
  const dir = '/sys/fs/cgroup/memory/docker';
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d) && !ids.has(d)) : [];
}

describe('moved containers behave like the original', () => {
  beforeAll(() => removeEverywhere('stopper', 'roundtrip'));
  afterAll(() => removeEverywhere('stopper', 'roundtrip'));

  it('docker stop delivers SIGTERM to the application and exits with its status; restart starts fresh', async () => {
    docker('node1', 'run', '-d', '--name', 'stopper', 'livemig-testkit:latest', 'memhog', '8');
    await waitFor('memhog filled', () => logs('node1', 'stopper').some((l) => l.startsWith('filled')));
    push('node1', 'stopper', 'node2');

    const t = Date.now();
    docker('node2', 'stop', '-t', '20', 'stopper');
    expect(Date.now() - t).toBeLessThan(10_000); // the app handled SIGTERM: no SIGKILL after the timeout
    expect(state('node2', 'stopper')?.exitCode).toBe(42);
    expect(logs('node2', 'stopper')).toContain('exiting on SIGTERM');

    docker('node2', 'start', 'stopper');
    await waitFor('a fresh start', () => logs('node2', 'stopper').filter((l) => l.startsWith('filled')).length === 2);
    // Started fresh: the original command is PID 1 again, no helper waiting in front of it.
    expect(docker('node2', 'top', 'stopper', '-o', 'pid,args').split('\n').slice(1)).toHaveLength(1);
    expect(docker('node2', 'exec', 'stopper', 'cat', '/proc/1/cmdline').replace(/\0/g, ' ').trim()).toBe('memhog 8');

    docker('node2', 'restart', '-t', '20', 'stopper');
    await waitFor('restart', () => logs('node2', 'stopper').filter((l) => l.startsWith('filled')).length === 3);
    expect(state('node2', 'stopper')?.running).toBe(true);
  });

  it('survives five round trips node1 -> node2 -> node1 and leaves nothing behind', async () => {
    startCounter('node1', 'roundtrip');
    await waitFor('counter output', () => logs('node1', 'roundtrip').length >= 3);
    const base = { node1: footprint('node1').mounts, node2: footprint('node2').mounts };
    const downtimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      downtimes.push(push('node1', 'roundtrip', 'node2').downtimeMs);
      downtimes.push(push('node2', 'roundtrip', 'node1').downtimeMs);
    }
    await sleep(1000);
    expect(state('node1', 'roundtrip')?.running).toBe(true);
    expect(state('node2', 'roundtrip')).toBeNull();
    consecutiveFromOne(logs('node1', 'roundtrip'));

    const f1 = footprint('node1');
    const f2 = footprint('node2');
    expect(f1.migrations).toEqual([]);
    expect(f2.migrations).toEqual([]);
    expect(f1.mounts).toBe(base.node1);
    expect(f2.mounts).toBe(base.node2 - 0);
    expect(f2.containers.split('\n').filter((l) => l.startsWith('roundtrip'))).toEqual([]);
    expect(strayCgroups()).toEqual([]);
    expect(sh('pgrep', ['-x', 'criu']).stdout.trim()).toBe('');
    console.log(`round-trip downtimes (ms): ${downtimes.map((d) => d.toFixed(0)).join(' ')}`);

    // Each destination remembers what it committed, for a source that crashed around Commit.
    const markers = fs.readdirSync('/var/lib/livemig-lab/node2/agent/committed');
    expect(markers.length).toBeGreaterThanOrEqual(5);
    const ask = (id: string): { committed: boolean; state: string } => {
      const r = inNode('node1', 'node', path.join(ROOT, 'test/tools/raw-peer.cjs'), 'status', 'node2', id);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { committed: boolean; state: string };
    };
    expect(ask(markers[0])).toEqual({ committed: true, state: 'COMMITTED' });
    // An ID it never saw: UNKNOWN, not "not committed" (only a rollback it made says that).
    expect(ask('00000000-0000-0000-0000-000000000000')).toEqual({ committed: false, state: 'UNKNOWN' });
  });
});
