// CRIU command lines, built in one place from container facts. Each special case is one small
// named function, so that what we tell CRIU (and why) can be read and tested on its own.
import { cgroupControllers, type MountInfo } from './mountinfo';

/** Key under which the container's network namespace is declared external (as runc names it). */
export const NETNS_KEY = 'extRootNetNS';

/** Options common to dump and restore. */
const COMMON = ['--manage-cgroups=ignore', '--file-locks', '--ext-unix-sk'];

/** What the source knows about the process tree it dumps. */
export interface DumpFacts {
  pid: number;            // host PID of the tree's root task
  imagesDir: string;
  netnsInode: number;     // inode of /proc/PID/ns/net: the container's netns stays on the host
  mounts: MountInfo[];    // /proc/PID/mountinfo
  dockerMountTargets: string[]; // destinations of the container's volumes and bind mounts
  freezerDir: string;     // the container's freezer cgroup, frozen by us before the dump
  /** CRIU keys ("tty[rdev:dev]") of the container's terminal (-t), held by the tree's stdio */
  ttyKeys: string[];
}

/** Docker bind-mounts these files from its own directory into every container. */
export const DOCKER_FILES = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];

/** runc bind-mounts a TTY container's pts here (-t). */
export const CONSOLE = '/dev/console';

/** Mounts whose source is outside the container: CRIU must be told they are external. */
export function externalMountPoints(mounts: MountInfo[], dockerMountTargets: string[]): string[] {
  const wanted = new Set([...DOCKER_FILES, CONSOLE, ...dockerMountTargets]);
  return mounts
    .filter((m) => wanted.has(m.mountPoint) || isCgroupMount(m))
    .map((m) => m.mountPoint);
}

/** cgroup mounts are bind mounts of the host's hierarchy (v1: one per controller). */
export function isCgroupMount(m: MountInfo): boolean {
  return m.fsType === 'cgroup' || m.fsType === 'cgroup2';
}

/**
 * The container's terminal (-t): the pts whose master Docker holds. Declared external, CRIU keeps
 * its settings and window size and the session it controls; the restore hands it a new one
 * (--inherit-fd fd[N]:tty[...]). Without this, dump fails on a pts slave with no master.
 */
function externalTtyArgs(keys: string[]): string[] {
  return keys.flatMap((k) => ['--external', k]);
}

function externalMountArgs(points: string[]): string[] {
  return points.flatMap((p) => ['--external', `mnt[${p}]:${p}`]);
}

/** The veth peer lives in the host: without this, restore fails with "Unknown peer net namespace". */
function externalNetnsArgs(inode: number): string[] {
  return ['--external', `net[${inode}]:${NETNS_KEY}`];
}

/**
 * Established TCP connections are dumped; on restore they are closed (the address changes).
 * Connections that arrive at a listening socket of the frozen container wait in its accept
 * queue: not dumped (the new copy never saw them), still there for the old one after a rollback.
 */
function tcpDumpArgs(): string[] {
  return ['--tcp-established', '--skip-in-flight'];
}

/**
 * No iptables network lock, on dump or restore. Connections come back closed (--tcp-close), so
 * their dumped state needs no protection; the lock and unlock (iptables-restore runs in the
 * container's netns) cost ~100 ms of downtime per dump, and on restore the unlock failed ("Bad
 * rule") in a netns CRIU had not locked.
 */
function networkLockArgs(): string[] {
  return ['--network-lock', 'skip'];
}

/**
 * The tree stays as it was, frozen in its cgroup, for rollback (thaw) or removal. CRIU seizes it
 * through the freezer, puts the freezer back to FROZEN when done, and takes TCP sockets out of
 * repair mode (--leave-stopped left them in it, and a network lock in place: a rolled-back
 * container had no network).
 */
function finalStateArgs(freezerDir: string): string[] {
  return ['--freeze-cgroup', freezerDir, '--leave-running'];
}

export function dumpArgs(f: DumpFacts): string[] {
  return [
    'dump',
    '--tree', String(f.pid),
    '--images-dir', f.imagesDir,
    '--log-file', 'dump.log',
    '-v4',
    ...COMMON,
    ...tcpDumpArgs(),
    ...networkLockArgs(),
    ...finalStateArgs(f.freezerDir),
    ...externalNetnsArgs(f.netnsInode),
    ...externalTtyArgs(f.ttyKeys),
    ...externalMountArgs(externalMountPoints(f.mounts, f.dockerMountTargets)),
  ];
}

/** What the destination knows about the container it restores into. */
export interface RestoreFacts {
  imagesDir: string;
  rootDir: string;      // the new container's merged rootfs
  pidFile: string;
  /** external mount key (the source's mount point) -> host path on the destination */
  mountMap: Map<string, string>;
  netnsFd: number;      // fd (in criu) on the new container's netns
  /**
   * The source's stdio keys ("pipe:[123]", "tty[8800:1a]") -> fd (in criu) of the new
   * container's log pipe, stdin pipe or terminal
   */
  stdio: Array<{ key: string; fd: number }>;
  /** the tree resumes before its memory is in (a `criu lazy-pages` daemon fills it) */
  lazyPages: boolean;
}

function inheritFdArgs(f: RestoreFacts): string[] {
  return [
    '--inherit-fd', `fd[${f.netnsFd}]:${NETNS_KEY}`,
    ...f.stdio.flatMap((s) => ['--inherit-fd', `fd[${s.fd}]:${s.key}`]),
  ];
}

function restoreMountArgs(map: Map<string, string>): string[] {
  return [...map].flatMap(([key, hostPath]) => ['--external', `mnt[${key}]:${hostPath}`]);
}

/**
 * Post-copy from the destination's own images: criu restore skips the private anonymous pages
 * and registers them with userfaultfd; the tree resumes at once and CRIU's lazy-pages daemon
 * copies them in, on fault and in the background. Reading 1 GiB into the new process inside
 * criu restore took 0.7-3.4 s of downtime on this VM kind.
 */
function lazyPagesArgs(lazy: boolean): string[] {
  return lazy ? ['--lazy-pages'] : [];
}

export const LAZY_PAGES_LOG = 'lazy-pages.log';

/** The daemon serving a lazy restore: it listens on lazy-pages.socket in the images dir. */
export function lazyPagesDaemonArgs(imagesDir: string): string[] {
  // -v2: at -v4 it logs every page it copies (a line per 4 KiB).
  return ['lazy-pages', '--images-dir', imagesDir, '--log-file', LAZY_PAGES_LOG, '-v2'];
}

export function restoreArgs(f: RestoreFacts): string[] {
  return [
    'restore',
    '--images-dir', f.imagesDir,
    '--log-file', 'restore.log',
    '-v4',
    '--restore-detached',
    '--root', f.rootDir,
    '--pidfile', f.pidFile,
    ...COMMON,
    '--tcp-close',
    ...networkLockArgs(),
    ...lazyPagesArgs(f.lazyPages),
    ...inheritFdArgs(f),
    ...restoreMountArgs(f.mountMap),
  ];
}

/**
 * Destination host paths for the source's external mounts: Docker's files of the new container,
 * the new container's cgroup directories, and its volume / bind mount sources. /dev/console (a
 * bind of the source's pts) becomes the host's /dev/null: the new pts lives in the new
 * container's devpts, which a mount in criu's namespace cannot reach (a bind mount from another
 * mount namespace is refused), and the restored tree's terminal is its stdio, not this file.
 */
export function mapExternalMounts(
  keys: string[],
  sourceMounts: MountInfo[],
  target: {
    dockerFiles: Record<string, string>;          // '/etc/hosts' -> host path
    cgroupDirs: Map<string, string>;              // controllers key ('' = v2) -> host dir
    mountSources: Record<string, string>;         // container destination -> host source
  },
): Map<string, string> {
  const map = new Map<string, string>();
  for (const key of keys) {
    const src = sourceMounts.find((m) => m.mountPoint === key);
    let hostPath: string | undefined;
    if (key === CONSOLE) hostPath = '/dev/null';
    else if (target.dockerFiles[key]) hostPath = target.dockerFiles[key];
    else if (target.mountSources[key]) hostPath = target.mountSources[key];
    else if (src && isCgroupMount(src)) hostPath = target.cgroupDirs.get(cgroupControllers(src).join(','));
    if (!hostPath) throw new Error(`cannot map the container's mount ${key} on the destination`);
    map.set(key, hostPath);
  }
  return map;
}

