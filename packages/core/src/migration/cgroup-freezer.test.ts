// Against the host's real cgroups (tests run as root): the v1 freezer hierarchy and a cgroup v2
// hierarchy (the unified one a hybrid host mounts, or /sys/fs/cgroup itself on a v2 host), so the
// v2 path is exercised here even though the lab's Docker runs on v1.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cgroupControllers, parseMountInfo } from '../criu/mountinfo';
import { canFreeze, freezeCgroup, thawCgroup } from './cgroup-freezer';
import { cgroupPids } from './process-facts';

/** Mount points of the host's hierarchies: the v1 freezer one and the v2 one. */
function hierarchies(): { v1?: string; v2?: string } {
  const mounts = parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
  return {
    v1: mounts.find((m) => cgroupControllers(m).includes('freezer'))?.mountPoint,
    v2: mounts.find((m) => m.fsType === 'cgroup2')?.mountPoint,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('cgroup freezer on real cgroups', () => {
  const made: string[] = [];
  const procs: ChildProcess[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) p.kill('SIGKILL');
    await sleep(50);
    for (const dir of made.splice(0)) {
      if (fs.existsSync(dir)) {
        thawCgroup(dir);
        fs.rmdirSync(dir);
      }
    }
  });

  it('the host has a cgroup v2 hierarchy to test on (hybrid or unified)', () => {
    expect(hierarchies().v2, 'no cgroup2 mount in /proc/self/mounts').toBeTruthy();
  });

  // Each hierarchy the host has (a pure v2 host has no v1 freezer).
  const present = Object.entries(hierarchies()).filter((e): e is [string, string] => e[1] !== undefined);
  it.each(present)('%s (%s): freezes a ticking process, reports it, thaws it', async (_version, root) => {
    const dir = path.join(root, `livemig-freezer-test-${process.pid}`);
    fs.mkdirSync(dir);
    made.push(dir);
    expect(canFreeze(dir)).toBe(true);

    let ticks = 0;
    const p = spawn('sh', ['-c', 'while :; do echo t; sleep 0.01; done'], { stdio: ['ignore', 'pipe', 'ignore'] });
    procs.push(p);
    p.stdout?.on('data', (d: Buffer) => (ticks += d.toString().split('\n').length - 1));
    fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(p.pid));
    expect(cgroupPids(dir)).toContain(p.pid);
    await sleep(100);
    expect(ticks).toBeGreaterThan(0);

    await freezeCgroup(dir);
    await sleep(30); // output already in the pipe
    const frozenAt = ticks;
    await sleep(300);
    expect(ticks).toBe(frozenAt); // not one more line while frozen

    thawCgroup(dir);
    await sleep(300);
    expect(ticks).toBeGreaterThan(frozenAt);
  });
});

describe('thawCgroup', () => {
  it('refuses a directory that is not a cgroup, without creating files in it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-not-cgroup-'));
    try {
      expect(() => thawCgroup(dir)).toThrow(/is not a freezer cgroup/);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmdirSync(dir);
    }
  });

  // Seen on a cgroup v2 host (Docker's systemd driver, a Debian 12 VM): after the commit the
  // frozen tasks were killed, systemd removed the emptied scope between two of our fs calls, and
  // the push failed although the container ran on the destination. A directory stands in for the
  // scope and goes away at the second fs call thawCgroup makes, whatever that call is; a write
  // then fails as the kernel fails it: ENOENT once the file is gone, ENODEV while it is open.
  it.each(['ENOENT', 'ENODEV'])('has nothing to do for a cgroup that vanishes while it is being thawed (%s)', (code) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-vanishing-'));
    const real = { existsSync: fs.existsSync, writeFileSync: fs.writeFileSync };
    let calls = 0;
    const vanishAtSecondCall = (): boolean => {
      if (++calls !== 2) return false;
      fs.rmdirSync(dir);
      return true;
    };
    const spies = [
      vi.spyOn(fs, 'existsSync').mockImplementation((p) => (vanishAtSecondCall(), real.existsSync(p))),
      vi.spyOn(fs, 'writeFileSync').mockImplementation((...a) => {
        if (vanishAtSecondCall() && code === 'ENODEV') throw Object.assign(new Error('ENODEV: no such device, write'), { code });
        real.writeFileSync(...a);
      }),
    ];
    try {
      expect(() => thawCgroup(dir)).not.toThrow();
      expect(calls).toBeGreaterThanOrEqual(2);
    } finally {
      for (const s of spies) s.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

