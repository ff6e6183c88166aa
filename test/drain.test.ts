// migrate-cli drain across node2 and node3 (the lab's third node): the plan, capacity, refusals,
// state carried, and a destination lost mid-drain.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, consecutiveFromOne, docker, lab, logs, memhogChecksum, startCounter, startMemhog, state, tryDocker, waitFor, type Result } from './lab';

const NODES = ['node1', 'node2', 'node3'];
const MOVABLE = ['d-c1', 'd-c2', 'd-c3', 'd-c4'];
const ALL = [...MOVABLE, 'd-host', 'k-big', 'k-1', 'k-2'];

interface DrainJson {
  plan: Array<{ container: string; destinationNode: string; verdict: string; reason: string; memoryBytes: number }>;
  results: Array<{ container: string; destination: string; result: string; reason: string; downtimeMs: number; totalMs: number; bytesWire: number }>;
  totals: { selected: number; moved: number; failed: number; refused: number };
  remaining: string[];
}

function removeAll(): void {
  for (const n of NODES) tryDocker(n, 'rm', '-f', ...ALL);
}

/** The node's agent with a capacity it reports to planners (MiB), or its host's when none. */
function capacity(node: string, memoryMib?: number): void {
  const r = lab('restart-agent', node, ...(memoryMib ? ['--capacity-memory', String(memoryMib)] : []));
  expect(r.code, r.stderr).toBe(0);
}

function drainInBackground(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts', 'lab.sh'), 'cli', 'node1', 'drain', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const placedOn = (j: DrainJson, node: string): string[] => j.results.filter((r) => r.result === 'moved' && r.destination === node).map((r) => r.container).sort();

describe('drain node1 to node2 and node3', () => {
  beforeAll(() => {
    const up = lab('up', '--nodes', '3');
    expect(up.code, up.stderr).toBe(0);
    removeAll();
  }, 120_000);
  afterAll(() => {
    removeAll();
    capacity('node2');
    expect(lab('down-node3').code).toBe(0); // the other tests' lab has two nodes
  }, 60_000);

  it('plans without changing anything, then moves four with their state and leaves the refused one running', async () => {
    for (const c of MOVABLE) startCounter('node1', c);
    for (const c of MOVABLE) docker('node1', 'update', '--memory', '48m', '--memory-swap', '48m', c);
    docker('node1', 'run', '-d', '--name', 'd-host', '--network', 'host', 'busybox:latest', 'sleep', '1000');
    await waitFor('counters', () => MOVABLE.every((c) => logs('node1', c).length >= 5));
    const started = Object.fromEntries(MOVABLE.map((c) => [c, state('node1', c)?.startedAt]));

    // Room for one 48 MiB container on node2, two on node3: the fourth fits nowhere.
    capacity('node2', 60);
    capacity('node3', 100);
    const dry = cli('node1', 'drain', '--to', 'node2,node3', '--filter', 'name=d-*', '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const plan = (JSON.parse(dry.stdout) as DrainJson).plan;
    expect(plan.map((e) => e.container).sort()).toEqual([...MOVABLE, 'd-host'].sort());
    expect(plan.find((e) => e.container === 'd-host')).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('--network host') });
    expect(plan.filter((e) => e.destinationNode === 'node2')).toHaveLength(1);
    expect(plan.filter((e) => e.destinationNode === 'node3')).toHaveLength(2);
    expect(plan.filter((e) => /no destination has room/.test(e.reason))).toHaveLength(1);
    // --dry-run changed nothing.
    for (const c of MOVABLE) expect(state('node1', c)).toMatchObject({ running: true, startedAt: started[c] });
    for (const n of ['node2', 'node3']) expect(docker(n, 'ps', '-aq')).toBe('');

    // Room for three on node3 now: the four move, one to node2, within each node's capacity.
    capacity('node3', 150);
    const r = cli('node1', 'drain', '--to', 'node2,node3', '--filter', 'name=d-*');
    expect(r.code, r.stdout + r.stderr).not.toBe(0); // d-host is still on node1
    for (const c of MOVABLE) expect(r.stdout).toMatch(new RegExp(`^\\[ *[\\d.]+s\\] ${c} -> node[23]: start$`, 'm'));
    for (const c of MOVABLE) expect(r.stdout).toMatch(new RegExp(`^\\[ *[\\d.]+s\\] ${c} -> node[23]: done, downtime \\d+\\.\\d{3} s`, 'm'));
    expect(r.stdout).toMatch(/^d-host +- +- +- +- +refused: container d-host uses the host network namespace \(--network host\)/m);
    expect(r.stdout).toMatch(/^totals: 4 of 5 moved, 0 failed, 1 refused, 0 not started/m);
    expect(r.stdout).toMatch(/^still on this host: d-host$/m);

    const where = Object.fromEntries(MOVABLE.map((c) => [c, ['node2', 'node3'].find((n) => state(n, c)?.running)]));
    expect(MOVABLE.filter((c) => where[c] === 'node2')).toHaveLength(1);
    expect(MOVABLE.filter((c) => where[c] === 'node3')).toHaveLength(3);
    for (const c of MOVABLE) expect(state('node1', c)).toBeNull();
    expect(state('node1', 'd-host')?.running).toBe(true);
    // Each counter went on from where it was: its whole history, no restart, no gap.
    const counted = Object.fromEntries(MOVABLE.map((c) => [c, logs(where[c] as string, c).length]));
    await waitFor('counters going on', () => MOVABLE.every((c) => logs(where[c] as string, c).length > counted[c] + 2));
    for (const c of MOVABLE) consecutiveFromOne(logs(where[c] as string, c));
  });

  it('a destination agent killed mid-drain: its container rolls back to node1, the others move', async () => {
    const sum = await startMemhog('node1', 'k-big', ['256'], ['--memory', '300m']);
    for (const c of ['k-1', 'k-2']) {
      startCounter('node1', c);
      docker('node1', 'update', '--memory', '32m', '--memory-swap', '32m', c);
    }
    // k-big fits node3 alone; the counters go to node2.
    capacity('node2', 100);
    capacity('node3', 320);
    const draining = drainInBackground('--to', 'node2,node3', '--filter', 'name=k-*', '--json');
    const dir = '/var/lib/livemig-lab/node3/agent/migrations';
    // Once its target runs there (the memory follows): node3's record of it names the container.
    await waitFor('k-big arriving on node3', () => state('node3', 'k-big')?.running, 60_000, 20);
    expect(lab('kill-agent', 'node3').code).toBe(0);
    const r = await draining;
    expect(r.code, r.stderr).not.toBe(0);
    const j = JSON.parse(r.stdout) as DrainJson;
    expect(j.results.find((x) => x.container === 'k-big')).toMatchObject({ result: 'failed', destination: 'node3' });
    expect(placedOn(j, 'node2')).toEqual(['k-1', 'k-2']);
    expect(j.remaining).toEqual(['k-big']);
    expect(r.stderr).toMatch(/^\[ *[\d.]+s\] k-big -> node3: failed \(it runs on this host\): /m);

    expect(state('node1', 'k-big')?.running).toBe(true);
    expect(await memhogChecksum('node1', 'k-big')).toBe(sum);
    for (const c of ['k-1', 'k-2']) expect(state('node2', c)?.running).toBe(true);
    // node3's agent comes back and removes what it had begun.
    capacity('node3');
    await waitFor('node3 cleaned up', () => state('node3', 'k-big') === null && !(fs.existsSync(dir) && fs.readdirSync(dir).length), 30_000);
  });
});
