import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ROOT, cli, consecutiveFromOne, docker, logs, push, removeEverywhere, sh, sleep, startCounter, state, waitFor } from './lab';

describe('push a busybox counter', () => {
  beforeAll(() => removeEverywhere('counter', 'progress'));
  afterAll(() => removeEverywhere('counter', 'progress'));

  it('continues the sequence on node2 with no restart and no gap, and leaves node1', async () => {
    startCounter('node1', 'counter');
    await waitFor('counter output', () => logs('node1', 'counter').length >= 10);
    const before = logs('node1', 'counter').length;

    const s = push('node1', 'counter', 'node2');
    expect(s.container).toBe('counter');
    expect(s.destinationNode).toBe('node2');
    expect(s.downtimeMs).toBeGreaterThan(0);
    expect(s.totalMs).toBeGreaterThanOrEqual(s.downtimeMs);
    expect(s.bytesWire).toBeGreaterThan(0);

    expect(state('node1', 'counter')).toBeNull();
    expect(state('node2', 'counter')?.running).toBe(true);
    await sleep(1500);
    const after = logs('node2', 'counter');
    // The whole history is there (carried log) and the count went on from where it was.
    const n = consecutiveFromOne(after);
    expect(n).toBeGreaterThan(before + 3);
    expect(docker('node2', 'ps', '--filter', 'name=^counter$', '--format', '{{.Names}} {{.Status}}')).toMatch(/^counter Up/);
  });

  it('prints phases and a human summary without --json', async () => {
    const r = cli('node2', 'push', 'counter', '--to', 'node1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/preflight\.\.\./);
    expect(r.stdout).toMatch(/dump done/);
    expect(r.stdout).toMatch(/^moved counter from node2 to node1/m);
    expect(r.stdout).toMatch(/downtime \(frozen\): \d+\.\d{3} s\s+total: \d+\.\d{3} s/);
    expect(r.stdout).toMatch(/bytes: .* raw, .* on the wire \(zstd --fast=1, ratio [0-9.]+; pages sent during the dump\)/);
    await sleep(1000);
    consecutiveFromOne(logs('node1', 'counter'));
  });

  it('keeps the source stopped with --keep-source and can move without compression', () => {
    const s = push('node1', 'counter', 'node2', '--keep-source', '--compress', 'none');
    expect(s.sourceKept).toBe(true);
    expect(s.bytesWire).toBe(s.bytesRaw);
    const src = state('node1', 'counter');
    expect(src?.running).toBe(false);
    expect(state('node2', 'counter')?.running).toBe(true);
    docker('node1', 'rm', 'counter');
  });

  it('draws a live progress bar on a terminal, and none when not on one', async () => {
    docker('node1', 'run', '-d', '--name', 'progress', 'livemig-testkit:latest', 'memhog', '384');
    await waitFor('memhog filled', () => logs('node1', 'progress').some((l) => l.startsWith('filled')), 30_000);
    // `script` gives the CLI a pseudo-terminal, as an operator's shell would.
    const lab = path.join(ROOT, 'scripts', 'lab.sh');
    const tty = sh('script', ['-qec', `bash ${lab} cli node1 push progress --to node2`, '/dev/null']);
    expect(tty.code, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/\r\x1b\[2K(precopy|transfer) [\d.]+ MiB {2}\/ [\d.]+ MiB \[#*\.*\] \d+% {2}[\d.]+ MiB\/s {2}wire [\d.]+ MiB {2}ETA \d+s/);
    expect(tty.stdout).toMatch(/^moved progress from node1 to node2/m);

    const plain = cli('node2', 'push', 'progress', '--to', 'node1');
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout + plain.stderr).not.toMatch(/ETA|\r/);
  });
});
