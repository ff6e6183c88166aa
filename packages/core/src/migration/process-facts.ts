// Facts about a live process tree, read from the host's /proc.
import fs from 'node:fs';
import { parseMountInfo, type MountInfo } from '../criu/mountinfo';
import { cgroupDirs, parseProcCgroup } from '../criu/proc-cgroup';

/** Host PIDs of a process's children (needs CONFIG_PROC_CHILDREN, which CRIU needs too). */
export function childrenOf(pid: number): number[] {
  const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return text ? text.split(/\s+/).map(Number) : [];
}

/**
 * The root of the tree to dump. For an ordinary container it is the container's init; for a
 * container made by an earlier migration, init is our helper and the application is its child.
 */
export function dumpRootPid(initPid: number, restored: boolean): number {
  if (!restored) return initPid;
  const kids = childrenOf(initPid);
  if (kids.length !== 1) throw new Error(`expected one application process under the restore helper, found ${kids.length}`);
  return kids[0];
}

export function netnsInode(pid: number): number {
  return fs.statSync(`/proc/${pid}/ns/net`).ino;
}

export function mountInfo(pid: number | 'self'): MountInfo[] {
  return parseMountInfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** What fds 0-2 of a process are, e.g. "pipe:[21641]" or "/dev/null". */
export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
}

export function stdioOf(pid: number): Stdio {
  const link = (fd: number): string => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      return '';
    }
  };
  return { stdin: link(0), stdout: link(1), stderr: link(2) };
}

export type StdFd = 0 | 1 | 2;

/** A stdio fd of the dumped tree that the restore hands over from the new container (criu --inherit-fd). */
export interface ReattachedStdio {
  /** CRIU's key: "pipe:[inode]" (Docker's log and stdin pipes) or "tty[rdev:dev]" (the container's terminal) */
  key: string;
  fd: StdFd;
}

/** A pseudo-terminal slave, as /proc/PID/fd links name one. */
export function isPts(link: string): boolean {
  return /^\/dev\/pts\/\d+$/.test(link);
}

/**
 * CRIU's name for an external terminal: its st_rdev and st_dev in hex (criu/tty.c builds the same
 * string to look up --external and --inherit-fd keys).
 */
export function ttyKey(st: { rdev: bigint; dev: bigint }): string {
  return `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`;
}

/**
 * The tree's stdio to re-attach on restore, in fd order, one entry per key: Docker's pipes (the
 * log pipes, and stdin with -i) and its terminal (-t, all three fds on one pts). `ttyOf` stats a
 * pts fd. Anything else (a file, a socket) is restored as CRIU dumped it.
 */
export function stdioToReattach(s: Stdio, ttyOf: (fd: StdFd) => string): ReattachedStdio[] {
  const out: ReattachedStdio[] = [];
  const links: Array<[StdFd, string]> = [[0, s.stdin], [1, s.stdout], [2, s.stderr]];
  for (const [fd, link] of links) {
    const key = link.startsWith('pipe:') ? link : isPts(link) ? ttyOf(fd) : undefined;
    if (key !== undefined && !out.some((o) => o.key === key)) out.push({ key, fd });
  }
  return out;
}

/** ttyOf for stdioToReattach: the key of a process's pts fd. */
export function ttyKeyOfFd(pid: number): (fd: StdFd) => string {
  return (fd) => ttyKey(fs.statSync(`/proc/${pid}/fd/${fd}`, { bigint: true }));
}

/** Host PIDs of every process of a container: members of its cgroup (any hierarchy will do). */
export function cgroupPids(cgroupDir: string): number[] {
  let text: string;
  try {
    text = fs.readFileSync(`${cgroupDir}/cgroup.procs`, 'utf8').trim();
  } catch (err) {
    // The container is gone (ENODEV: its cgroup was removed while we read it).
    if (['ENOENT', 'ENODEV'].includes((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
  return text ? text.split('\n').map(Number) : [];
}

/** Host directories of a process's cgroups, one per mounted hierarchy ('' = cgroup v2). */
export function processCgroupDirs(pid: number): Map<string, string> {
  return cgroupDirs(parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')), mountInfo('self'));
}

/** The parent PID of a process (from /proc/PID/stat), or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]); // after "pid (comm) state"
  } catch {
    return undefined;
  }
}

/** What a process runs, for a message ("sh -c sleep 100"), or '' once it is gone. */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/**
 * Processes of a container outside the tree that a dump of `root` takes: what `docker exec`
 * started (its parent is containerd's shim, on the host). `pids` are the container's cgroup
 * members; `init` (the container's PID 1, the dump root or the helper above it) is left out.
 */
export function outsideTree(pids: number[], root: number, init: number): number[] {
  const members = new Set(pids);
  const inTree = (pid: number): boolean | undefined => {
    for (let p: number | undefined = pid; p !== undefined; p = parentOf(p)) {
      if (p === root) return true;
      if (!members.has(p)) return false;
    }
    return undefined; // gone while we looked: it is in no tree
  };
  return pids.filter((pid) => pid !== init && pid !== root && inTree(pid) === false);
}
