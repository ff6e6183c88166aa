// The pre-copy: the memory goes while the container runs; after the freeze only the pages that
// changed since travel, the rest the destination copies from what it already holds.
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { askMemhog, docker, lab, logs, push, pushInBackground, removeEverywhere, sh, sleep, startMemhog, state, waitFor, type PushSummary } from './lab';

interface PrecopySummary extends PushSummary {
  precopyBytesRaw: number;
  precopyBytesWire: number;
  pagesReused: number;
  pagesSent: number;
}

const PAGE = 4096;

/** Bytes of pre-copied pages in node2's store so far. */
function storeBytes(node: string): number {
  return scratchDirs(node).reduce((sum, id) => {
    const store = `/dev/shm/livemig-lab/${node}/${id}/precopy`; // a file per process
    const files = fs.existsSync(store) ? fs.readdirSync(store) : [];
    return sum + files.reduce((n, f) => n + fs.statSync(`${store}/${f}`).size, 0);
  }, 0);
}

function scratchDirs(node: string): string[] {
  const dir = `/dev/shm/livemig-lab/${node}`;
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

function migrationDirs(node: string): string[] {
  const dir = `/var/lib/livemig-lab/${node}/agent/migrations`;
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

describe('pre-copy', () => {
  const names = ['idle', 'churn', 'cut', 'duo', 'spill'];
  beforeAll(() => removeEverywhere(...names));
  afterAll(() => removeEverywhere(...names));

  it('sends idle memory before the freeze: after it only references travel, and the memory is bit for bit the same', async () => {
    const sum = await startMemhog('node1', 'idle', ['64']);
    const s = push('node1', 'idle', 'node2') as PrecopySummary;
    const pages = (64 * 1024 * 1024) / PAGE;
    expect(s.phaseMs.precopy).toBeGreaterThan(0);
    expect(s.precopyBytesRaw).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(s.precopyBytesWire).toBeLessThan(s.precopyBytesRaw * 0.6); // compressed like the rest
    expect(s.pagesReused).toBeGreaterThanOrEqual(pages); // memhog's region, and more of its memory
    expect(s.pagesSent).toBeLessThan(256); // what the process touched since: its stack, a few more
    // Frozen, the wire carried the CRIU images but memhog's pages: far less than a MiB.
    expect(s.frozenBytesWire).toBeLessThan(1024 * 1024);
    expect(s.criuImageBytes).toBeGreaterThan(64 * 1024 * 1024); // the destination wrote them all
    expect(await askMemhog('node2', 'idle', 'checksum')).toBe(`checksum ${sum}`);

    // Without it, everything moves while frozen, and arrives the same.
    const back = push('node2', 'idle', 'node1', '--no-precopy') as PrecopySummary;
    expect(back.precopyBytesRaw).toBe(0);
    expect(back.pagesReused).toBe(0);
    expect(back.phaseMs.precopy).toBeUndefined();
    expect(back.bytesWire).toBeGreaterThan(32 * 1024 * 1024);
    expect(await askMemhog('node1', 'idle', 'checksum')).toBe(`checksum ${sum}`);
  });

  it('memory written during the pre-copy arrives as it was at the freeze', async () => {
    // 64 MiB, 8 pages rewritten per ms: between the pre-copy's read and the freeze, some pages
    // change (sent again), most do not (reused).
    await startMemhog('node1', 'churn', ['64', 'churn', '8']);
    expect(await askMemhog('node1', 'churn', 'verify')).toMatch(/^verify ok \d+$/);
    const s = push('node1', 'churn', 'node2') as PrecopySummary;
    expect(s.pagesSent).toBeGreaterThan(10);
    expect(s.pagesReused).toBeGreaterThan(1000);
    const first = await askMemhog('node2', 'churn', 'verify');
    expect(first).toMatch(/^verify ok \d+$/);
    // It goes on rewriting there, consistently.
    const later = await askMemhog('node2', 'churn', 'verify');
    expect(later).toMatch(/^verify ok \d+$/);
    expect(Number(later.split(' ')[2])).toBeGreaterThan(Number(first.split(' ')[2]));
  });

  it('several processes with the same pages: each keeps its memory, and the frozen part carries next to none of it', async () => {
    // Two memhogs fill their memory from the same seed: 32 MiB of their pages are the same.
    docker('node1', 'run', '-d', '--name', 'duo', 'livemig-testkit:latest', 'sh', '-c', 'memhog 32 & memhog 48 & wait');
    const filled = await waitFor('both filled', () => {
      const lines = logs('node1', 'duo').filter((l) => l.startsWith('filled'));
      return lines.length === 2 && lines;
    }, 60_000);
    const sums = filled.map((l) => `checksum ${l.split(' ').pop()}`).sort();
    const s = push('node1', 'duo', 'node2') as PrecopySummary;
    expect(s.pagesReused).toBeGreaterThanOrEqual((80 * 1024 * 1024) / PAGE);
    expect(s.pagesSent).toBeLessThan(512);
    expect(s.frozenBytesWire).toBeLessThan(2 * 1024 * 1024);
    docker('node2', 'exec', 'duo', 'killall', '-USR1', 'memhog');
    const after = await waitFor('both checksums', () => {
      const lines = logs('node2', 'duo').filter((l) => l.startsWith('checksum'));
      return lines.length === 2 && lines;
    });
    expect(after.sort()).toEqual(sums);
  });

  describe('a failure during the pre-copy', () => {
    afterEach(() => {
      lab('restart-agent', 'node1');
      lab('restart-agent', 'node2');
    });

    it('destination agent killed during the pre-copy: the container never froze and runs on, nothing is left', async () => {
      const sum = await startMemhog('node1', 'cut', ['1024']);
      const startedAt = state('node1', 'cut')?.startedAt;
      const pushing = pushInBackground('node1', 'cut', 'node2');
      // The store grows on node2 while the pre-copy runs.
      await waitFor('the pre-copy to arrive', () => storeBytes('node2') > 64 * 1024 * 1024, 60_000);
      expect(lab('kill-agent', 'node2').code).toBe(0);
      const r = await pushing;
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).not.toMatch(/dump\.\.\./); // it never got to the freeze
      expect(r.stderr).not.toMatch(/rolled back/); // nothing to roll back: never frozen
      expect(state('node1', 'cut')?.running).toBe(true);
      expect(state('node1', 'cut')?.startedAt).toBe(startedAt);
      expect(await askMemhog('node1', 'cut', 'checksum')).toBe(`checksum ${sum}`);
      await waitFor('node1 clean', () => migrationDirs('node1').length === 0 && scratchDirs('node1').length === 0);
      // node2's agent comes back, removes its half-made container and its pre-copy.
      expect(lab('up').code).toBe(0);
      await waitFor('node2 clean', () => state('node2', 'cut') === null && migrationDirs('node2').length === 0 && scratchDirs('node2').length === 0, 30_000);
      docker('node1', 'rm', '-f', 'cut');
    });

    it("the destination's disk fills during the pre-copy: the container never froze and runs on, nothing is left", async () => {
      const sum = await startMemhog('node1', 'spill', ['1024']);
      const startedAt = state('node1', 'spill')?.startedAt;
      // node2's checkpoint space is a 3 GiB tmpfs: the pre-flight check passes; once the store
      // grows, something else takes all but a few MiB of it.
      const dir = '/dev/shm/livemig-lab/node2';
      const filler = `${dir}/.filler`;
      fs.mkdirSync(dir, { recursive: true });
      expect(sh('mount', ['-t', 'tmpfs', '-o', 'size=3g', 'livemig-test-full', dir]).code).toBe(0);
      try {
        const pushing = pushInBackground('node1', 'spill', 'node2');
        for (let i = 0; storeBytes('node2') < 32 * 1024 * 1024; i++) {
          expect(i, 'pre-copy arriving on node2').toBeLessThan(6000);
          await sleep(10);
        }
        // The store grows meanwhile: try again with what is free then.
        const filled = Array.from({ length: 20 }).some(() => {
          const st = fs.statfsSync(dir);
          return sh('fallocate', ['-l', String(st.bavail * st.bsize - 8 * 1024 * 1024), filler]).code === 0;
        });
        expect(filled).toBe(true);
        const r = await pushing;
        fs.rmSync(filler);
        expect(r.code).not.toBe(0);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(/ENOSPC|no space left|the disk holding \S+ is full/i);
        expect(r.stdout).not.toMatch(/dump\.\.\./);
        expect(r.stderr).not.toMatch(/rolled back/);
        expect(state('node1', 'spill')?.running).toBe(true);
        expect(state('node1', 'spill')?.startedAt).toBe(startedAt);
        expect(await askMemhog('node1', 'spill', 'checksum')).toBe(`checksum ${sum}`);
        await waitFor('node2 clean', () => state('node2', 'spill') === null && migrationDirs('node2').length === 0 && scratchDirs('node2').length === 0, 30_000);
        await waitFor('node1 clean', () => migrationDirs('node1').length === 0 && scratchDirs('node1').length === 0);
      } finally {
        sh('umount', [dir]);
      }
      docker('node1', 'rm', '-f', 'spill');
    });
  });
});
