// CRIU probes the kernel at every start (an iptables run, a test veth and netns, ptraced
// children: ~35 ms of each dump and each restore here, inside the downtime) unless it finds its
// cache. It keeps that cache only on a tmpfs, so that a reboot (a new kernel) clears it; /run is
// not tmpfs on every host (it is ext4 on the lab's machine), so the CRIU that setup.sh builds
// keeps it in KDAT_DIR (make RUNDIR=...). CRIU does not make the directory: the agent does.
import fs from 'node:fs';

/** Where our CRIU build keeps criu.kdat (setup.sh builds with RUNDIR set to this). */
export const KDAT_DIR = '/dev/shm/livemig-criu';

/**
 * Makes `dir` (root-owned, 0700) if missing. A root CRIU trusts the cache it reads there, so a
 * directory that someone else owns or may write to is refused, never used.
 */
export function ensureKdatDir(dir = KDAT_DIR): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return; // no tmpfs there: CRIU just probes
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} (CRIU's kernel-probe cache) is not a directory that only this user can write: remove it`);
  }
}
