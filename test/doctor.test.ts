// migrate-cli doctor between the lab's nodes, and a push refused before the freeze on what blocks.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli, consecutiveFromOne, lab, logs, removeEverywhere, sh, startCounter, state, waitFor } from './lab';

const FACTS = ['kernel', 'criu', 'criu features', 'docker', 'storage driver', 'cgroup', 'cpu flags', 'free memory', 'free disk', 'clock skew', 'base images'];

describe('migrate-cli doctor', () => {
  beforeAll(() => removeEverywhere('doc-counter'));
  afterAll(() => {
    removeEverywhere('doc-counter');
    lab('restart-agent', 'node2');
  });

  it('passes between node1 and node2: every fact side by side, nothing blocks', () => {
    startCounter('node1', 'doc-counter');
    const r = cli('node1', 'doctor', '--to', 'node2');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^FACT +node1 +node2 +VERDICT$/m);
    for (const f of FACTS) expect(r.stdout).toMatch(new RegExp(`^${f} +\\S.* +ok$`, 'm'));
    expect(r.stdout).toMatch(/^base images +1 in use +all present +ok$/m);
    expect(r.stdout).toMatch(/^verdict: nothing blocks$/m);
  });

  it('names the CPU flags a destination lacks, and push refuses it before the freeze', async () => {
    // node2's agent reports another CPU model: no AVX, no SSE4.
    const restarted = sh('env', ['LIVEMIG_FAULT=hide-cpu-flags', 'bash', path.join(ROOT, 'scripts', 'lab.sh'), 'restart-agent', 'node2']);
    expect(restarted.code, restarted.stderr).toBe(0);
    const r = cli('node1', 'doctor', '--to', 'node2');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^cpu flags +\d+ flags +lacks (\S+ )*avx2 .*BLOCK +fix: .*SIGILL/m);
    expect(r.stdout).toMatch(/^verdict: 1 blocking/m);

    const startedAt = state('node1', 'doc-counter')?.startedAt;
    const push = cli('node1', 'push', 'doc-counter', '--to', 'node2');
    expect(push.code).not.toBe(0);
    expect(push.stderr.trim().split('\n')).toHaveLength(1);
    expect(push.stderr).toMatch(/cannot restore on node2: cpu flags: node2 lacks .*avx2.*SIGILL/);
    expect(state('node1', 'doc-counter')).toMatchObject({ running: true, startedAt });
    expect(state('node2', 'doc-counter')).toBeNull();
    const n = logs('node1', 'doc-counter').length;
    await waitFor('the counter going on', () => logs('node1', 'doc-counter').length > n + 2);
    consecutiveFromOne(logs('node1', 'doc-counter'));
  });
});
