import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ROOT, cli, consecutiveFromOne, docker, logs, removeEverywhere, sh, sleep, startCounter, state, tryDocker, waitFor } from './lab';

// Both nodes share this machine's file system: node1's and node2's "sides" are two directories.
const DIR = '/var/lib/livemig-lab/checkpoints';
const ON = { node1: `${DIR}/node1`, node2: `${DIR}/node2` };
const NAMES = ['ckpt-counter', 'ckpt-copy', 'ckpt-copy2', 'ckpt-bad', 'ckpt-wait', 'ckpt-img', 'ckpt-exits'];
const IMAGE = 'livemig-ckpt/counter:1';

interface CheckpointDone { container: string; file: string; bytes: number; digest: string; frozenMs: number; leftRunning: boolean }

function checkpoint(node: string, container: string, file: string, ...extra: string[]): CheckpointDone {
  const r = cli(node, 'checkpoint', container, '--out', file, '--json', ...extra);
  if (r.code !== 0) throw new Error(`checkpoint ${container} on ${node} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as CheckpointDone;
}

function restore(node: string, file: string, ...extra: string[]): { container: string; containerId: string } {
  const r = cli(node, 'restore', file, '--json', ...extra);
  if (r.code !== 0) throw new Error(`restore ${file} on ${node} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { container: string; containerId: string };
}

function containers(node: string): string {
  return docker(node, 'ps', '-a', '--format', '{{.Names}}').split('\n').sort().join(' ');
}

describe('checkpoint files', () => {
  beforeAll(() => {
    removeEverywhere(...NAMES);
    fs.rmSync(DIR, { recursive: true, force: true });
    for (const d of Object.values(ON)) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  });
  afterAll(() => {
    removeEverywhere(...NAMES);
    for (const node of ['node1', 'node2']) tryDocker(node, 'rmi', '-f', IMAGE);
    fs.rmSync(DIR, { recursive: true, force: true });
  });

  it('checkpoint --leave-running to a file, restore on node2 under a new name: the count continues there, the original runs on', async () => {
    startCounter('node1', 'ckpt-counter');
    await waitFor('counter output', () => logs('node1', 'ckpt-counter').length >= 10);
    const file = `${ON.node1}/counter.ckpt`;
    const done = checkpoint('node1', 'ckpt-counter', file, '--leave-running');
    const atCheckpoint = logs('node1', 'ckpt-counter').length;
    expect(done.leftRunning).toBe(true);
    const st = fs.statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(0);
    expect(st.size).toBe(done.bytes);

    const shown = cli('node1', 'inspect', file, '--json');
    expect(shown.code, shown.stderr).toBe(0);
    const c = JSON.parse(shown.stdout) as { digest: string; header: { container: string; host: string; criuVersion: string; kernel: string;
      processes: Array<{ command: string }> }; parts: { memoryPages: number; criuImages: number; log: number } };
    expect(c.digest).toBe(done.digest);
    expect(c.header).toMatchObject({ container: 'ckpt-counter', host: 'node1' });
    expect(c.header.criuVersion).toMatch(/^\d+\.\d+/);
    expect(c.header.processes.some((p) => p.command.startsWith('sh -c i=0;'))).toBe(true);
    expect(c.parts.memoryPages).toBeGreaterThan(0);
    expect(c.parts.criuImages).toBeGreaterThan(0);
    expect(c.parts.log).toBeGreaterThan(0);
    const text = cli('node1', 'inspect', file);
    expect(text.stdout).toMatch(/^checkpoint .*counter\.ckpt: format 1, .*sha256 [0-9a-f]{64} \(verified\)/);
    expect(text.stdout).toMatch(/parts: +memory pages [\d.]+ KiB/);

    const copy = `${ON.node2}/counter.ckpt`;
    fs.copyFileSync(file, copy);
    // The name is taken on node1 (the original runs): refused there, nothing made.
    const before = containers('node1');
    const taken = cli('node1', 'restore', file);
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/a container named ckpt-counter already exists on node1/);
    expect(containers('node1')).toBe(before);

    restore('node2', copy, '--name', 'ckpt-copy');
    restore('node2', copy, '--name', 'ckpt-copy2');
    await sleep(1500);
    for (const name of ['ckpt-copy', 'ckpt-copy2']) {
      expect(state('node2', name)?.running).toBe(true);
      const n = consecutiveFromOne(logs('node2', name)); // the history, then the count from where it froze
      expect(n).toBeGreaterThan(atCheckpoint + 3);
    }
    // Two independent copies: their own processes, and the original still counts on node1.
    expect(state('node2', 'ckpt-copy')?.pid).not.toBe(state('node2', 'ckpt-copy2')?.pid);
    expect(state('node1', 'ckpt-counter')?.running).toBe(true);
    expect(consecutiveFromOne(logs('node1', 'ckpt-counter'))).toBeGreaterThan(atCheckpoint + 3);
  });

  it('without --leave-running removes the container once the file is verified; it restores under its own name', async () => {
    const file = `${ON.node2}/copy2.ckpt`;
    const done = checkpoint('node2', 'ckpt-copy2', file);
    expect(done.leftRunning).toBe(false);
    expect(state('node2', 'ckpt-copy2')).toBeNull();
    const count = logs('node2', 'ckpt-copy').length; // a bound: the copies count at the same rate
    restore('node2', file);
    await sleep(1000);
    expect(consecutiveFromOne(logs('node2', 'ckpt-copy2'))).toBeGreaterThan(count / 2);
    expect(state('node2', 'ckpt-copy2')?.running).toBe(true);
  });

  it('refuses a corrupted or truncated file and one of another format version: nothing is created', () => {
    const good = fs.readFileSync(`${ON.node2}/counter.ckpt`);
    const before = containers('node2');
    const refused = (name: string, bytes: Buffer, why: RegExp): void => {
      const f = `${ON.node2}/${name}`;
      fs.writeFileSync(f, bytes, { mode: 0o600 });
      const r = cli('node2', 'restore', f, '--name', 'ckpt-bad');
      expect(r.code, name).not.toBe(0);
      expect(r.stderr, name).toMatch(why);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(state('node2', 'ckpt-bad'), name).toBeNull();
    };
    const corrupt = Buffer.from(good);
    corrupt[Math.floor(corrupt.length / 2)] ^= 0xff;
    refused('corrupt.ckpt', corrupt, /is corrupt or truncated: its SHA-256 is/);
    refused('truncated.ckpt', good.subarray(0, Math.floor(good.length * 0.7)), /is corrupt or truncated/);
    const other = Buffer.from(good);
    other.writeUInt16BE(99, 13);
    refused('version.ckpt', other, /is checkpoint format version 99; this agent reads version 1 only/);
    expect(containers('node2')).toBe(before);
  });

  it('--when-log: the checkpoint is taken within a few lines of the matching one', () => {
    startCounter('node1', 'ckpt-wait');
    const file = `${ON.node1}/wait.ckpt`;
    checkpoint('node1', 'ckpt-wait', file, '--when-log', '^15$', '--timeout', '30');
    expect(state('node1', 'ckpt-wait')).toBeNull();
    const restoreStart = new Date().toISOString();
    restore('node1', file);
    // The carried history keeps its times: the lines stamped before the restore are the checkpoint's.
    const history = docker('node1', 'logs', '--timestamps', 'ckpt-wait').split('\n').map((l) => l.split(' '))
      .filter(([ts]) => ts < restoreStart).map(([, n]) => Number(n));
    const last = history[history.length - 1];
    expect(last).toBeGreaterThanOrEqual(15);
    expect(last).toBeLessThanOrEqual(25); // a line every 0.2 s: frozen within 2 s of the match (the pre-flight; a loaded CI host)
  });

  it('--when-log: a timeout or the container exiting first is one clear error, and nothing is made', () => {
    const file = `${ON.node1}/never.ckpt`;
    const r = cli('node1', 'checkpoint', 'ckpt-wait', '--out', file, '--when-log', 'NEVER', '--timeout', '2');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe('migrate-cli: error: no line matched /NEVER/ in ckpt-wait\'s output within 2 s; nothing was checkpointed');
    expect(fs.existsSync(file)).toBe(false);
    expect(state('node1', 'ckpt-wait')?.running).toBe(true);

    docker('node1', 'run', '-d', '--name', 'ckpt-exits', 'busybox:latest', 'sh', '-c', 'echo starting; sleep 1');
    const exited = cli('node1', 'checkpoint', 'ckpt-exits', '--out', file, '--when-log', 'NEVER', '--timeout', '30');
    expect(exited.stderr.trim()).toBe('migrate-cli: error: ckpt-exits\'s output ended (the container exited) before a line matched /NEVER/; nothing was checkpointed');
    expect(fs.existsSync(file)).toBe(false);
  });

  it('--image: the image goes node1 -> node2 with docker save | load, and restores there; the count continues', async () => {
    const r = cli('node1', 'checkpoint', 'ckpt-counter', '--image', IMAGE, '--leave-running', '--json');
    expect(r.code, r.stderr).toBe(0);
    const atCheckpoint = logs('node1', 'ckpt-counter').length;
    expect(docker('node1', 'image', 'inspect', '-f', '{{index .Config.Labels "livemig.checkpoint.format"}}', IMAGE)).toBe('1');
    const lab = path.join(ROOT, 'scripts', 'lab.sh');
    const shipped = sh('bash', ['-c', `set -o pipefail; bash ${lab} docker node1 save ${IMAGE} | bash ${lab} docker node2 load`]);
    expect(shipped.code, shipped.stderr).toBe(0);

    const shown = cli('node2', 'inspect', '--image', IMAGE, '--json');
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { header: { container: string; host: string } }).header).toMatchObject({ container: 'ckpt-counter', host: 'node1' });

    const restored = cli('node2', 'restore', '--image', IMAGE, '--name', 'ckpt-img', '--json');
    expect(restored.code, restored.stderr).toBe(0);
    await sleep(1500);
    expect(consecutiveFromOne(logs('node2', 'ckpt-img'))).toBeGreaterThan(atCheckpoint + 3);
    expect(state('node1', 'ckpt-counter')?.running).toBe(true);
    // The reader container that copied the file out of the image is gone.
    expect(docker('node2', 'ps', '-a', '--filter', 'label=livemig.checkpoint.reader', '--format', '{{.ID}}')).toBe('');
  });
});
