// The container's freezer cgroup holds it still from before the dump until the migration ends.
// CRIU dumps it with --freeze-cgroup --leave-running: it finds the cgroup frozen, puts it back
// frozen when done, and -- unlike --leave-stopped -- undoes its network lock first (the DROP-all
// chain in the container's netns, TCP sockets in repair mode). With --leave-stopped a rolled-back
// container ran again with no network at all.
import fs from 'node:fs';
import path from 'node:path';
import { cgroupPids } from './process-facts';

type Version = { file: string; freeze: string; thaw: string; isFrozen: (dir: string) => boolean };

const V1: Version = {
  file: 'freezer.state',
  freeze: 'FROZEN',
  thaw: 'THAWED',
  isFrozen: (dir) => fs.readFileSync(path.join(dir, 'freezer.state'), 'utf8').trim() === 'FROZEN',
};

const V2: Version = {
  file: 'cgroup.freeze',
  freeze: '1',
  thaw: '0',
  isFrozen: (dir) => /^frozen 1$/m.test(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8')),
};

const notAFreezer = (dir: string): Error => new Error(`${dir} is not a freezer cgroup (no freezer.state or cgroup.freeze)`);

function versionOf(dir: string): Version {
  if (fs.existsSync(path.join(dir, V1.file))) return V1;
  if (fs.existsSync(path.join(dir, V2.file))) return V2;
  throw notAFreezer(dir);
}

/** True if `dir` is a cgroup that can be frozen. */
export function canFreeze(dir: string): boolean {
  try {
    versionOf(dir);
    return true;
  } catch {
    return false;
  }
}

/** Freezes every task of the cgroup; resolves once the kernel reports it frozen. */
export async function freezeCgroup(dir: string, timeoutMs = 10_000): Promise<void> {
  const v = versionOf(dir);
  fs.writeFileSync(path.join(dir, v.file), v.freeze);
  const deadline = performance.now() + timeoutMs;
  while (!v.isFrozen(dir)) {
    if (performance.now() > deadline) {
      fs.writeFileSync(path.join(dir, v.file), v.thaw);
      throw new Error(`cannot freeze ${dir} within ${timeoutMs / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Lets the cgroup's tasks run again. A cgroup that is gone has nothing to thaw: on cgroup v2
 * systemd removes a container's scope as soon as its last task is gone, which can be between
 * any two of our fs calls, so each file is written without a look first. A file of a cgroup
 * removed while it is open fails with ENODEV (seen in a Debian 12 VM), one already gone ENOENT.
 */
export function thawCgroup(dir: string): void {
  for (const v of [V1, V2]) {
    try {
      fs.writeFileSync(path.join(dir, v.file), v.thaw, { flag: 'r+' }); // r+: never create a file
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENODEV') throw err;
    }
  }
  if (fs.existsSync(dir)) throw notAFreezer(dir);
}

/** SIGKILL to every task, then thaw: they die without running another instruction. */
export function killFrozen(dir: string): void {
  for (const pid of cgroupPids(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  thawCgroup(dir);
}
