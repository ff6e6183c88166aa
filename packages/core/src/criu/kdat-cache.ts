// CRIU probes the kernel at every start (an iptables run, a test veth and netns, ptraced
// children: ~35 ms of each dump and each restore here, inside the downtime) unless it finds its
// cache. It keeps that cache only on a tmpfs, so that a reboot (a new kernel) clears it; /run is
// not tmpfs on every host (it is ext4 on the lab's machine), so the CRIU that setup.sh builds
// keeps it in KDAT_DIR (make RUNDIR=...). CRIU does not make the directory: the agent does.
import { ensurePrivateDir } from '../host/private-dir';

/** Where our CRIU build keeps criu.kdat (setup.sh builds with RUNDIR set to this). */
export const KDAT_DIR = '/dev/shm/livemig-criu';

/**
 * Makes `dir` (root-owned, 0700) if missing. A root CRIU trusts the cache it reads there, so a
 * directory that someone else owns or may write to is refused, never used. No tmpfs there (no
 * parent dir): CRIU just probes.
 */
export function ensureKdatDir(dir = KDAT_DIR): void {
  ensurePrivateDir(dir, "CRIU's kernel-probe cache", { parents: false });
}
