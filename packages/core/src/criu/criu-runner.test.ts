import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { criuLogErrors, startCriu, type CriuRun } from './criu-runner';
import { InheritedFds } from './inherited-fds';

describe('criuLogErrors', () => {
  it('gives the last distinct Error lines, without the ones every run on this kind of host logs', () => {
    const log = [
      '(00.041351) Error (criu/util.c:1534): rlimit: Can\'t setup RLIMIT_NOFILE for self: Operation not permitted',
      '(00.100000) Error (criu/files.c:10): first',
      '(00.200000) 1: Error (criu/bfd.c:131): bfd: Error flushing image: No space left on device',
      '(00.200001) Warn (criu/x.c:1): not an error',
      '(00.300000) Error (criu/bfd.c:131): bfd: Error flushing image: No space left on device',
      '(00.400000) Error (criu/cr-dump.c:2): Dumping FAILED.',
    ].join('\n');
    expect(criuLogErrors(log, 2)).toEqual([
      'Error (criu/bfd.c:131): bfd: Error flushing image: No space left on device',
      'Error (criu/cr-dump.c:2): Dumping FAILED.',
    ]);
    expect(criuLogErrors(log)).toHaveLength(3);
    expect(criuLogErrors(log).join()).not.toMatch(/rlimit/);
  });
});

describe('startCriu', () => {
  // A stand-in for criu: `sh -c SCRIPT restore`, run in a scratch dir.
  const fake = (dir: string, script: string, extraFds?: InheritedFds): CriuRun => ({
    prefix: [], criuPath: 'sh', args: ['-c', script, 'restore'], imagesDir: dir, logName: 'restore.log', extraFds,
  });
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-runner-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs the prefix at once and criu only when released, with the fds it was given', async () => {
    const fds = new InheritedFds();
    const n = fds.add(fs.openSync(path.join(dir, 'passed'), 'w'));
    const p = startCriu(fake(dir, `echo ran >&${n}; echo "$$" > ran`, fds));
    fds.close(); // the child has its own
    await new Promise((r) => setTimeout(r, 200));
    expect(fs.existsSync(path.join(dir, 'ran'))).toBe(false);
    await p.release();
    expect(fs.readFileSync(path.join(dir, 'passed'), 'utf8')).toBe('ran\n');
    expect(fs.existsSync(path.join(dir, 'ran'))).toBe(true);
  });

  it('never runs criu once cancelled, and its chain is gone when cancel resolves', async () => {
    const p = startCriu(fake(dir, 'echo ran > ran'));
    await p.cancel();
    expect(fs.existsSync(path.join(dir, 'ran'))).toBe(false);
    await expect(p.release()).rejects.toThrow(/cancelled/);
  });

  it('tells when criu reports ready on its status fd, long before it exits', async () => {
    // criu gets "--status-fd N": here $1 and $2 of the stand-in's script.
    const p = startCriu({ ...fake(dir, '[ "$1" = --status-fd ] && eval "printf \'\\0\' >&$2" && sleep 0.5 && echo done > done'), statusFd: true });
    const exited = p.release();
    await p.ready;
    expect(fs.existsSync(path.join(dir, 'done'))).toBe(false);
    await exited;
    expect(fs.existsSync(path.join(dir, 'done'))).toBe(true);
  });

  it('fails the wait for ready when criu exits without reporting it, and kills a released run on cancel', async () => {
    const quiet = startCriu({ ...fake(dir, 'exit 0'), statusFd: true });
    void quiet.release();
    await expect(quiet.ready).rejects.toThrow(/exited before it was ready/);
    const daemon = startCriu(fake(dir, 'sleep 30'));
    const running = daemon.release();
    const t0 = Date.now();
    await daemon.cancel();
    expect(Date.now() - t0).toBeLessThan(2_000);
    await expect(running).rejects.toThrow(/cancelled/);
  });

  it("rejects with criu's last words when it fails", async () => {
    const p = startCriu(fake(dir, 'echo "Error (criu/x.c:1): it broke" > restore.log; exit 1'));
    await expect(p.release()).rejects.toThrow(/failed \(exit 1\): Error \(criu\/x\.c:1\): it broke/);
  });

  it('a timeout kills criu itself, not only the prefix that forked it (as nsenter -p does)', async () => {
    // The prefix forks the command and waits for it (unshare --fork, like nsenter entering a pid
    // namespace); the stand-in criu records its pid, then hangs.
    const p = startCriu({
      ...fake(dir, 'echo $$ > criu.pid; exec sleep 1000'),
      prefix: ['unshare', '--fork', '--'],
      timeoutMs: 500,
    }, false);
    const t0 = Date.now();
    await expect(p.release()).rejects.toThrow(/timed out after 0\.5 s \(killed\)/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    const pid = Number(fs.readFileSync(path.join(dir, 'criu.pid'), 'utf8'));
    expect(pid).toBeGreaterThan(0);
    // Gone (reaped by init), or at most a zombie a moment longer.
    const alive = (): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive()).toBe(false);
  });
});
