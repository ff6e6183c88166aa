// Never two copies, even when the link is cut: the lease (packages/core/src/protocol/lease.ts).
// The destination's agent killed, its link cut (the lab's veth set down), or the agent frozen
// (SIGSTOP), while its copy runs unconfirmed: in the lazy phase (held open by a criu wrapper) and
// in the Commit exchange (held by a fault). Both copies are sampled every 50 ms by a separate
// process (test/tools/sample-running.cjs): never a sample with both running, and one running at
// the end, with its state (the counter goes on from where it was).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, consecutiveFromOne, lab, logs, pushInBackground, removeEverywhere, sh, sleep, startCounter, state, waitFor } from './lab';

const LAB = path.join(ROOT, 'scripts', 'lab.sh');
const LEASE_MS = 1000; // short in tests: the source announces it, the destination takes it
const SAMPLE_MS = 50;
const NAME = 'lease-counter';
const NODE2_LOG = '/run/livemig-lab/node2/agent.log';

function restartAgent(node: string, faults: string, ...flags: string[]): void {
  const r = sh('env', [`LIVEMIG_FAULT=${faults}`, 'bash', LAB, 'restart-agent', node, ...flags]);
  expect(r.code, r.stderr).toBe(0);
}

function agentPid(node: string): number {
  return Number(fs.readFileSync(`/run/livemig-lab/${node}/agent.pid`, 'utf8'));
}

function migrationDirs(node: string): string[] {
  const dir = `/var/lib/livemig-lab/${node}/agent/migrations`;
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

function hasChild(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/** Samples both copies until stopped; resolves with [ms, source, destination] rows. */
function sampler(sourcePid: number, helperPid: number): { stop: () => Promise<number[][]> } {
  const child: ChildProcess = spawn('node', [path.join(ROOT, 'test/tools/sample-running.cjs'), String(SAMPLE_MS), String(sourcePid), String(helperPid)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
      return out.trim().split('\n').map((l) => l.split(' ').map(Number));
    },
  };
}

type Fault = 'kill' | 'cut' | 'stop';
type Phase = 'lazy' | 'commit';

/** Does `fault` to node2; resolves once the fault is over (link up, agent continued or restarted). */
async function inflict(fault: Fault): Promise<void> {
  if (fault === 'cut') {
    expect(lab('exec', 'node1', 'ip', 'link', 'set', 'lab0', 'down').code).toBe(0);
    await sleep(LEASE_MS + 2500);
    expect(lab('exec', 'node1', 'ip', 'link', 'set', 'lab0', 'up').code).toBe(0);
  } else if (fault === 'stop') {
    const pid = agentPid('node2');
    process.kill(pid, 'SIGSTOP');
    await sleep(LEASE_MS + 2500);
    process.kill(pid, 'SIGCONT');
  } else {
    expect(lab('kill-agent', 'node2').code).toBe(0);
    await sleep(LEASE_MS + 2500);
    expect(lab('up').code).toBe(0); // its recovery removes what the fence left
  }
}

describe('never two copies: the lease', () => {
  beforeAll(() => removeEverywhere(NAME));
  afterEach(() => {
    lab('exec', 'node1', 'ip', 'link', 'set', 'lab0', 'up');
    for (const node of ['node1', 'node2']) lab('restart-agent', node);
    removeEverywhere(NAME);
  });
  afterAll(() => removeEverywhere(NAME));

  it.each<[Phase, Fault]>([
    ['lazy', 'cut'], ['lazy', 'kill'], ['lazy', 'stop'],
    ['commit', 'cut'], ['commit', 'kill'], ['commit', 'stop'],
  ])('%s phase, destination %s: never both running, one at the end with its state', async (phase, fault) => {
    restartAgent('node1', '', '--lease-ms', String(LEASE_MS), '--peer-timeout', '3');
    if (phase === 'lazy') restartAgent('node2', '', '--criu', path.join(ROOT, 'test/tools/criu-lazy-pages-hold.sh'));
    else restartAgent('node2', 'hold-commit');
    const logStart = fs.statSync(NODE2_LOG).size;
    startCounter('node1', NAME, '0.05');
    await waitFor('counter output', () => logs('node1', NAME).length >= 3);
    const sourcePid = state('node1', NAME)?.pid ?? 0;
    const pushing = pushInBackground('node1', NAME, 'node2', ...(phase === 'lazy' ? ['--lazy-pages', 'always'] : []));
    const helperPid = await waitFor('the target on node2', () => state('node2', NAME)?.pid, 30_000, 20);
    const samples = sampler(sourcePid, helperPid);
    try {
      if (phase === 'lazy') await waitFor('the copy running on node2 (lazy phase)', () => hasChild(helperPid), 30_000, 5);
      else await waitFor('Commit held on node2', () => fs.readFileSync(NODE2_LOG, 'utf8').slice(logStart).includes('held 2 s (fault hold-commit)'), 30_000, 10);
      await sleep(4 * SAMPLE_MS); // the sampler sees node2's copy run before the fault
      await inflict(fault);
      const r = await pushing;
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      // The copy on node2 is removed; node1's runs again (at once, or once node2 answers).
      await waitFor('one copy, on node1', () => state('node2', NAME) === null && state('node1', NAME)?.running && migrationDirs('node1').length === 0, 60_000);
      await sleep(300);
    } finally {
      const rows = await samples.stop();
      const both = rows.filter(([, a, b]) => a === 1 && b === 1);
      const dst = rows.filter(([, , b]) => b === 1).length;
      console.log(`${phase}/${fault}: ${rows.length} samples every ${SAMPLE_MS} ms, ${dst} with node2's copy running, ${both.length} with both`);
      expect(both, 'samples with both copies running').toEqual([]);
      expect(dst, 'node2 ran its copy in the window').toBeGreaterThan(0);
      expect(rows[rows.length - 1].slice(1)).toEqual([1, 0]);
    }
    // Its state: the counter goes on from where it was, on node1.
    const n = consecutiveFromOne(logs('node1', NAME));
    await sleep(500);
    expect(consecutiveFromOne(logs('node1', NAME))).toBeGreaterThan(n);
    expect(migrationDirs('node2')).toEqual([]);
  });

  it('a crash between the record write and the commit marker: exactly one copy after the agents restart', async () => {
    restartAgent('node2', 'crash-before-commit-marker');
    startCounter('node1', NAME, '0.05');
    await waitFor('counter output', () => logs('node1', NAME).length >= 3);
    const sourcePid = state('node1', NAME)?.pid ?? 0;
    const pushing = pushInBackground('node1', NAME, 'node2');
    const helperPid = await waitFor('the target on node2', () => state('node2', NAME)?.pid, 30_000, 20);
    const samples = sampler(sourcePid, helperPid);
    try {
      const r = await pushing;
      expect(r.code).not.toBe(0);
      // Commit was sent: the source cannot tell, and stays frozen; node2's record says committed.
      expect(r.stderr).toMatch(/cannot tell whether node2 committed, so lease-counter stays frozen on node1 \(never running on both\)/);
      expect(state('node2', NAME)?.running).toBe(true);
      expect(lab('up').code).toBe(0); // node2's agent again: no commit marker, so it rolls back
      expect(lab('restart-agent', 'node1').code).toBe(0); // and node1's: its recovery asks node2
      await waitFor('one copy, on node1', () => state('node2', NAME) === null && state('node1', NAME)?.running && migrationDirs('node1').length === 0, 60_000);
      await sleep(300);
    } finally {
      const rows = await samples.stop();
      const both = rows.filter(([, a, b]) => a === 1 && b === 1);
      console.log(`crash before the commit marker: ${rows.length} samples, ${both.length} with both`);
      expect(both).toEqual([]);
      expect(rows[rows.length - 1].slice(1)).toEqual([1, 0]);
    }
    expect(fs.readFileSync(NODE2_LOG, 'utf8')).toMatch(/recovery: removed half-made lease-counter/);
    const n = consecutiveFromOne(logs('node1', NAME));
    await sleep(500);
    expect(consecutiveFromOne(logs('node1', NAME))).toBeGreaterThan(n);
    expect(migrationDirs('node2')).toEqual([]);
  });
});
