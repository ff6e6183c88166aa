// Failures after the freeze: the container must keep running on exactly one host, with its
// state, and nothing may be left behind on either node.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOT, consecutiveFromOne, docker, lab, logs, memhogChecksum, startMemhog, pushInBackground, removeEverywhere, sh, sleep, startCounter, state, waitFor, type Result,
} from './lab';

const LAB = path.join(ROOT, 'scripts', 'lab.sh');

function migrationDirs(node: string): string[] {
  const dir = `/var/lib/livemig-lab/${node}/agent/migrations`;
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/**
 * True once the destination has started writing the memory pages of a migration's checkpoint
 * (after the freeze: a pre-copy goes to its own store), in memory or in the state dir.
 */
function receivingPages(node: string): boolean {
  return migrationDirs(node).some((id) => {
    return [`/var/lib/livemig-lab/${node}/agent/migrations/${id}/images`, `/dev/shm/livemig-lab/${node}/${id}/images`].some((dir) => {
      const pages = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^pages-\d+\.img$/.test(f)) : [];
      return pages.some((f) => fs.statSync(`${dir}/${f}`).size > 0);
    });
  });
}

/** Restarts a node's agent with LIVEMIG_FAULT set (the next plain restart clears it). */
function restartAgentWithFaults(node: string, faults: string): void {
  const r = sh('env', [`LIVEMIG_FAULT=${faults}`, 'bash', LAB, 'restart-agent', node]);
  expect(r.code, r.stderr).toBe(0);
}

/** The state of a process's freezer cgroup, v1 or v2: FROZEN from before the dump until the end. */
function freezerState(pid: number): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:freezer:/.test(l));
  if (v1) return fs.readFileSync(`/sys/fs/cgroup/freezer${v1.split(':')[2]}/freezer.state`, 'utf8').trim();
  const v2 = lines.find((l) => l.startsWith('0::')) ?? '';
  const events = fs.readFileSync(`/sys/fs/cgroup${v2.slice(3)}/cgroup.events`, 'utf8');
  return /^frozen 1$/m.test(events) ? 'FROZEN' : 'THAWED';
}

/** The error names the CRIU log, kept out of the rolled-back work dir, and it says why. */
function expectKeptLog(stderr: string, where: RegExp, says: RegExp): void {
  const kept = /\(CRIU log: (\S+)\)/.exec(stderr)?.[1] ?? '';
  expect(kept).toMatch(where);
  expect(fs.readFileSync(kept, 'utf8')).toMatch(says);
}

/** Processes of a criu restore started ahead and waiting at its gate (criu-runner.ts), or a lazy-pages daemon. */
function waitingRestores(): string[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).flatMap((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return cmd.includes('livemig-gate') || cmd.includes('\0lazy-pages\0') ? [`${p}: ${cmd.replace(/\0/g, ' ')}`] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** A criu lazy-pages daemon at work (released from its gate: criu itself, not the gate's sh). */
function lazyPagesCopying(): boolean {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      return /(^|\/)criu$/.test(argv[0]) && argv[1] === 'lazy-pages';
    } catch {
      return false; // gone meanwhile
    }
  });
}

function expectNothingLeftOn(node: string, name: string): void {
  expect(state(node, name)).toBeNull();
  expect(migrationDirs(node)).toEqual([]);
  expect(waitingRestores()).toEqual([]);
}

describe('concurrent pushes', () => {
  beforeAll(() => removeEverywhere('slow', 'quick'));
  afterAll(() => removeEverywhere('slow', 'quick'));

  it('refuses a second push of a container being moved, and moves two containers at once', async () => {
    const sum = await startMemhog('node1', 'slow', ['768']);
    startCounter('node1', 'quick');
    const first = pushInBackground('node1', 'slow', 'node2');
    await waitFor('the transfer to start', () => receivingPages('node2'), 60_000);
    const [again, other] = await Promise.all([
      pushInBackground('node1', 'slow', 'node2'),
      pushInBackground('node1', 'quick', 'node2'),
    ]);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim()).toBe('migrate-cli: error: container slow is already being migrated');
    expect(other.code, other.stderr).toBe(0);
    const r = await first;
    expect(r.code, r.stderr).toBe(0);
    expect(state('node2', 'slow')?.running).toBe(true);
    expect(state('node2', 'quick')?.running).toBe(true);
    expect(await memhogChecksum('node2', 'slow')).toBe(sum);
    await sleep(500);
    consecutiveFromOne(logs('node2', 'quick'));
  });
});

describe('rollback after the freeze', () => {
  const names = ['big', 'huge', 'counter-fault', 'lazy-fault', 'lazy-src', 'commit-lost', 'commit-unknown', 'tcp-fault', 'cleanup-fault'];
  const removeAll = (): void => {
    removeEverywhere(...names);
    for (const node of ['node1', 'node2']) lab('docker', node, 'volume', 'rm', '-f', 'commit-unknown-data');
  };
  beforeAll(removeAll);
  afterEach(() => {
    // Whatever a test did to the agents, both run normally again for the next one.
    lab('restart-agent', 'node1');
    lab('restart-agent', 'node2');
  });
  afterAll(removeAll);

  it('destination agent killed mid-transfer: the source resumes with its memory', async () => {
    const sum = await startMemhog('node1', 'big', ['1024']);
    const sourceAgent = fs.readFileSync('/run/livemig-lab/node1/agent.pid', 'utf8');
    const pushing = pushInBackground('node1', 'big', 'node2');
    await waitFor('the transfer to start', () => receivingPages('node2'), 60_000);
    expect(lab('kill-agent', 'node2').code).toBe(0);
    const r = await pushing;
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr, r.stderr).toMatch(/rolled back: big is running on node1/);

    expect(state('node1', 'big')?.running).toBe(true);
    expect(await memhogChecksum('node1', 'big')).toBe(sum);
    // The source agent handled the failure and is still the same process.
    expect(fs.readFileSync('/run/livemig-lab/node1/agent.pid', 'utf8')).toBe(sourceAgent);
    expect(() => process.kill(Number(sourceAgent), 0)).not.toThrow();
    // The destination's agent comes back and removes its half-made container.
    expect(lab('up').code).toBe(0);
    await waitFor('node2 cleaned', () => state('node2', 'big') === null && migrationDirs('node2').length === 0);
    expectNothingLeftOn('node2', 'big');
    expect(migrationDirs('node1')).toEqual([]);
  });

  it('source agent killed mid-transfer and started again: the container resumes, the destination cleans up', async () => {
    const sum = await memhogChecksum('node1', 'big');
    const pushing = pushInBackground('node1', 'big', 'node2');
    await waitFor('the transfer to start', () => receivingPages('node2'), 60_000);
    expect(lab('kill-agent', 'node1').code).toBe(0);
    const r = await pushing;
    expect(r.code).not.toBe(0);
    // The destination saw the stream die and rolled back by itself.
    await waitFor('node2 rollback', () => state('node2', 'big') === null && migrationDirs('node2').length === 0, 60_000);
    // The source's agent starts again and resumes the frozen container.
    expect(lab('up').code).toBe(0);
    await waitFor('node1 recovery', () => migrationDirs('node1').length === 0);
    expect(state('node1', 'big')?.running).toBe(true);
    expect(await memhogChecksum('node1', 'big')).toBe(sum);
    expectNothingLeftOn('node2', 'big');
    docker('node1', 'rm', '-f', 'big');
  });

  it('source agent killed while the destination copies the memory in (lazy restore): the copy there is removed at once, the source resumes', async () => {
    const sum = await startMemhog('node1', 'lazy-src', ['1024']);
    const pushing = pushInBackground('node1', 'lazy-src', 'node2', '--lazy-pages', 'always');
    await waitFor('the lazy-pages daemon to copy pages in', () => lazyPagesCopying(), 120_000, 5);
    expect(lab('kill-agent', 'node1').code).toBe(0);
    expect((await pushing).code).not.toBe(0);
    await waitFor('node2 rollback', () => state('node2', 'lazy-src') === null && migrationDirs('node2').length === 0, 60_000);
    // It stopped the restore: the memory never finished coming in there.
    const node2Log = fs.readFileSync('/run/livemig-lab/node2/agent.log', 'utf8');
    expect(node2Log).toMatch(/rolling back lazy-src/);
    expect(node2Log).not.toMatch(/lazy-src restored \(pid/);
    expect(lab('up').code).toBe(0);
    await waitFor('node1 recovery', () => migrationDirs('node1').length === 0);
    expect(state('node1', 'lazy-src')?.running).toBe(true);
    expect(await memhogChecksum('node1', 'lazy-src')).toBe(sum);
    expectNothingLeftOn('node2', 'lazy-src');
    docker('node1', 'rm', '-f', 'lazy-src');
  });

  it.each([
    // 'big' stays for the next test; the source writes 256 MiB too fast to be caught mid-dump.
    // Without the pre-copy: with it the destination adopts the pre-copied pages (no write) and
    // what the frozen part writes may fit in the few MiB left (a CI run pushed through). A full
    // disk during the pre-copy is a test of push-precopy.test.ts.
    { side: 'destination', full: 'node2', name: 'big', mib: 256, flags: ['--no-precopy'], why: /ENOSPC|no space left|the disk holding \S+ is full/i },
    { side: 'source', full: 'node1', name: 'huge', mib: 1024, flags: [], why: /criu dump failed \(exit 1\): .*the disk holding .* is full/ },
  ])('$side disk full mid-transfer: the source resumes with its memory', async ({ full, name, mib, flags, why }) => {
    const sum = state('node1', name) ? await memhogChecksum('node1', name) : await startMemhog('node1', name, [String(mib)]);
    // The checkpoint space of one side (the agent's --scratch-dir, where a checkpoint that fits
    // in memory goes) is a 3 GiB tmpfs: the pre-flight checks pass, the pre-copy fits; once the
    // checkpoint's pages land there, something else takes all but a few MiB of it.
    const dir = `/dev/shm/livemig-lab/${full}`;
    const filler = `${dir}/.filler`;
    fs.mkdirSync(dir, { recursive: true });
    expect(sh('mount', ['-t', 'tmpfs', '-o', 'size=3g', 'livemig-test-full', dir]).code).toBe(0);
    try {
      const pushing = pushInBackground('node1', name, 'node2', ...flags);
      // Polled often: the whole transfer takes about a second.
      for (let i = 0; !receivingPages(full); i++) {
        expect(i, `pages arriving on ${full}`).toBeLessThan(3000);
        await sleep(10);
      }
      // Free space shrinks as the pages land: leave a few MiB, more if that no longer fits.
      const filled = [8, 32, 64].some((left) => {
        const st = fs.statfsSync(dir);
        return sh('fallocate', ['-l', String(st.bavail * st.bsize - left * 1024 * 1024), filler]).code === 0;
      });
      expect(filled).toBe(true);
      const r = await pushing;
      fs.rmSync(filler);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(why);
      if (full === 'node1') expectKeptLog(r.stderr, /node1\/agent\/criu-logs\/[0-9a-f-]+-dump\.log/, /pages/);
      expect(r.stderr).toMatch(new RegExp(`rolled back: ${name} is running on node1`));
      expect(state('node1', name)?.running).toBe(true);
      expect(freezerState(state('node1', name)?.pid ?? 0)).toBe('THAWED');
      expect(await memhogChecksum('node1', name)).toBe(sum);
      // The destination rolls back once it sees the call cancelled.
      await waitFor('node2 rollback', () => state('node2', name) === null && migrationDirs('node2').length === 0, 30_000);
      expectNothingLeftOn('node2', name);
      await waitFor(`nothing left in ${dir}`, () => fs.readdirSync(dir).length === 0);
    } finally {
      sh('umount', [dir]);
    }
    expect(migrationDirs('node1')).toEqual([]);
    if (name !== 'big') docker('node1', 'rm', '-f', name);
  });

  it('destination stops responding: the source times out and resumes; the destination cleans up', async () => {
    const sum = await memhogChecksum('node1', 'big');
    expect(lab('restart-agent', 'node1', '--peer-timeout', '5').code).toBe(0);
    const pushing = pushInBackground('node1', 'big', 'node2');
    // Looked at every 20 ms: with the pre-copy the frozen part can be in and restored within a
    // coarser poll, and a stop during Commit is another test (the lease's).
    await waitFor('the transfer to start', () => receivingPages('node2'), 60_000, 20);
    const destAgent = Number(fs.readFileSync('/run/livemig-lab/node2/agent.pid', 'utf8'));
    process.kill(destAgent, 'SIGSTOP');
    let r: Result;
    try {
      r = await pushing;
    } finally {
      process.kill(destAgent, 'SIGCONT');
    }
    expect(r.code).not.toBe(0);
    // Stopped while the pages still flow, or, when the pre-copy left a frozen part small enough
    // for the transport's buffers, once only the restore is awaited.
    expect(r.stderr).toMatch(/timed out after 5 s waiting for the destination(?: to take more data|'s restored reply); rolled back: big is running on node1/);
    expect(state('node1', 'big')?.running).toBe(true);
    expect(await memhogChecksum('node1', 'big')).toBe(sum);
    // Woken up, the destination finds the stream cancelled and removes what it made.
    await waitFor('node2 rollback', () => state('node2', 'big') === null && migrationDirs('node2').length === 0, 60_000);
    expect(migrationDirs('node1')).toEqual([]);
    docker('node1', 'rm', '-f', 'big');
  });

  it('criu restore failing on the destination: the counter continues on the source', async () => {
    expect(lab('restart-agent', 'node2', '--criu', path.join(ROOT, 'test/tools/criu-failing-restore.sh')).code).toBe(0);
    startCounter('node1', 'counter-fault');
    await waitFor('counter output', () => logs('node1', 'counter-fault').length >= 5);
    const r = await pushInBackground('node1', 'counter-fault', 'node2');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/criu restore failed .*restore refused by the test.*rolled back: counter-fault is running on node1/);
    expectKeptLog(r.stderr, /node2\/agent\/criu-logs\/[0-9a-f-]+-restore\.log/, /restore refused by the test/);
    await sleep(1500);
    expect(state('node1', 'counter-fault')?.running).toBe(true);
    const n = consecutiveFromOne(logs('node1', 'counter-fault'));
    await sleep(1000);
    expect(consecutiveFromOne(logs('node1', 'counter-fault'))).toBeGreaterThan(n); // still counting
    expectNothingLeftOn('node2', 'counter-fault');
    expect(migrationDirs('node1')).toEqual([]);
  });
  it("the lazy-pages daemon dying after criu restore: the destination's copy is removed, the source's runs on with its memory", async () => {
    expect(lab('restart-agent', 'node2', '--criu', path.join(ROOT, 'test/tools/criu-lazy-pages-dies.sh')).code).toBe(0);
    const sum = await startMemhog('node1', 'lazy-fault', ['256']);
    const started = state('node1', 'lazy-fault')?.startedAt;
    const r = await pushInBackground('node1', 'lazy-fault', 'node2', '--lazy-pages', 'always');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/criu lazy-pages failed .*killed by the test.*rolled back: lazy-fault is running on node1/);
    expectKeptLog(r.stderr, /node2\/agent\/criu-logs\/[0-9a-f-]+-lazy-pages\.log/, /killed by the test/);
    expect(state('node1', 'lazy-fault')).toMatchObject({ running: true, startedAt: started });
    expect(await memhogChecksum('node1', 'lazy-fault')).toBe(sum);
    expectNothingLeftOn('node2', 'lazy-fault');
    expect(migrationDirs('node1')).toEqual([]);
    docker('node1', 'rm', '-f', 'lazy-fault');
  });

  it('criu restore failing: a TCP connection of the container keeps carrying data after the rollback', async () => {
    // A line server in node1's network namespace, outside the container.
    const server = spawn('nsenter', ['--net=/var/run/netns/node1', 'node', '-e', `
      require('net').createServer((c) => c.pipe(process.stdout)).listen(5555, '10.77.0.1');`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let received = '';
    server.stdout.on('data', (d: Buffer) => (received += d.toString()));
    const lines = (): number => received.split('\n').filter((l) => l.startsWith('line ')).length;
    try {
      await sleep(500);
      docker('node1', 'run', '-d', '--name', 'tcp-fault', 'busybox:latest', 'sh', '-c',
        'i=0; while true; do i=$((i+1)); echo line $i; sleep 0.1; done | nc 10.77.0.1 5555');
      await waitFor('lines over TCP', () => lines() >= 5);
      expect(lab('restart-agent', 'node2', '--criu', path.join(ROOT, 'test/tools/criu-failing-restore.sh')).code).toBe(0);
      const r = await pushInBackground('node1', 'tcp-fault', 'node2');
      expect(r.stderr).toMatch(/rolled back: tcp-fault is running on node1/);
      const before = lines();
      await waitFor('more lines after the rollback', () => lines() >= before + 10, 10_000);
      // CRIU's network lock is gone from the container's namespace.
      const pid = state('node1', 'tcp-fault')?.pid ?? 0;
      expect(sh('nsenter', ['-t', String(pid), '-n', 'iptables-save']).stdout).not.toMatch(/CRIU/);
      expectNothingLeftOn('node2', 'tcp-fault');
    } finally {
      server.kill();
    }
  });

  it('the answer to Commit is lost: the source asks the destination, which committed; it runs on node2 only', async () => {
    const sum = await startMemhog('node1', 'commit-lost', ['16']);
    restartAgentWithFaults('node2', 'lose-committed');
    const r = await pushInBackground('node1', 'commit-lost', 'node2');
    expect(r.code, r.stderr).toBe(0);
    expect(state('node1', 'commit-lost')).toBeNull();
    expect(state('node2', 'commit-lost')?.running).toBe(true);
    expect(await memhogChecksum('node2', 'commit-lost')).toBe(sum);
    expect(fs.readFileSync('/run/livemig-lab/node1/agent.log', 'utf8')).toMatch(/push of commit-lost: the answer to Commit was lost; node2 confirmed it/);
    expect(migrationDirs('node1')).toEqual([]);
    expect(migrationDirs('node2')).toEqual([]);
  });

  it('...and the destination cannot be asked: the source stays frozen (never running on both) until a restart of its agent can ask', async () => {
    const sum = await startMemhog('node1', 'commit-unknown', ['16'], ['-v', 'commit-unknown-data:/data']);
    const pid = state('node1', 'commit-unknown')?.pid ?? 0;
    restartAgentWithFaults('node2', 'lose-committed,refuse-status');
    const r = await pushInBackground('node1', 'commit-unknown', 'node2');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/cannot tell whether node2 committed, so commit-unknown stays frozen on node1 \(never running on both\)/);
    expect(freezerState(pid)).toBe('FROZEN');
    expect(state('node2', 'commit-unknown')?.running).toBe(true);
    const again = await pushInBackground('node1', 'commit-unknown', 'node2');
    expect(again.stderr).toMatch(/commit-unknown stays frozen: its migration to node2 has an unknown outcome/);
    // node2 answers again; node1's agent, started again, asks it and removes its frozen copy.
    expect(lab('restart-agent', 'node2').code).toBe(0);
    expect(lab('restart-agent', 'node1').code).toBe(0);
    await waitFor('node1 recovery', () => state('node1', 'commit-unknown') === null && migrationDirs('node1').length === 0, 60_000);
    expect(state('node2', 'commit-unknown')?.running).toBe(true);
    expect(await memhogChecksum('node2', 'commit-unknown')).toBe(sum);
    expect(migrationDirs('node2')).toEqual([]);
    // The named volume moved with it: the recovery removed node1's copy too.
    expect(lab('docker', 'node1', 'volume', 'inspect', 'commit-unknown-data').code).not.toBe(0);
    expect(lab('docker', 'node2', 'volume', 'inspect', 'commit-unknown-data').code).toBe(0);
  });

  it('removing the source copy fails after the commit: the push says it moved and what is left; the agent finishes it at its next start', async () => {
    const sum = await startMemhog('node1', 'cleanup-fault', ['16']);
    const pid = state('node1', 'cleanup-fault')?.pid ?? 0;
    restartAgentWithFaults('node1', 'fail-source-cleanup');
    const r = await pushInBackground('node1', 'cleanup-fault', 'node2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/source: NOT cleaned up: injected fault: fail-source-cleanup \(the agent on node1 finishes it at its next start\)/);
    expect(state('node2', 'cleanup-fault')?.running).toBe(true);
    expect(await memhogChecksum('node2', 'cleanup-fault')).toBe(sum);
    // Never running on both: the source copy stays frozen, with its record.
    expect(freezerState(pid)).toBe('FROZEN');
    expect(migrationDirs('node1')).toHaveLength(1);
    expect(lab('restart-agent', 'node1').code).toBe(0);
    await waitFor('node1 recovery', () => state('node1', 'cleanup-fault') === null && migrationDirs('node1').length === 0, 60_000);
    expect(state('node2', 'cleanup-fault')?.running).toBe(true);
    expect(migrationDirs('node2')).toEqual([]);
  });
});
