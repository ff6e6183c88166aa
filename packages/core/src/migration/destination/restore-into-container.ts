// criu restore into a running container whose PID 1 is our helper (recipe section 3):
// criu runs from the host, inside the helper's PID namespace, with a /proc of its own, in the
// container's cgroups, with the container's netns and log pipes handed over as inherited fds.
import fs from 'node:fs';
import path from 'node:path';
import { LAZY_PAGES_LOG, lazyPagesDaemonArgs, mapExternalMounts, restoreArgs } from '../../criu/criu-options';
import { startCriu, type CriuProcess } from '../../criu/criu-runner';
import { InheritedFds } from '../../criu/inherited-fds';
import { parseMountInfo } from '../../criu/mountinfo';
import { overlayDirs, type ContainerInspect } from '../../docker/docker-client';
import { trace } from '../../util/trace';
import type { DumpedTreeFacts } from '../prepare-spec';
import { runOk } from '../../util/exec';
import { carryUnreadStdin, stdinPipe } from './stdin-in-flight';
import { childrenOf, isPts, mountInfo, processCgroupDirs, type ReattachedStdio } from '../process-facts';

// Joins every cgroup file given before "--", then execs the rest. A fixed script: paths arrive
// as positional arguments, never as shell text.
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export interface RestoreRequest {
  criuPath: string;
  helperPid: number;
  container: ContainerInspect; // the new container, started, helper waiting
  imagesDir: string;
  tree: DumpedTreeFacts;
  /** post-copy: the tree resumes first, a lazy-pages daemon then copies its memory in */
  lazyPages: boolean;
  /** The tmpfs mounts Docker made (--tmpfs, /dev/shm), shared with the helper by this tool. */
  tmpfs: { paths: string[]; shareMountsPath: string };
  timeoutMs?: number;
}

/** A restored tree: running (its memory all in, for a lazy restore, when this is returned). */
export interface RestoredTree {
  appPid: number;
  /** run() start -> the tree running (the helper told) */
  resumeMs: number;
  lazyPages: boolean;
  /** lazy restore: the tree running -> the daemon's last page copied in; 0 otherwise */
  pagesInMs: number;
}

/**
 * Awaited after criu restore, right before the tree is let run (the helper told): the lease
 * (destination/lease.ts) arms its fence on the helper, the PID namespace's init, here.
 */
export type ResumeGate = (helperPid: number) => Promise<void>;

/**
 * criu restore into the container, started before the images are in: its process chain (join
 * the cgroups, enter the PID namespace, a mount namespace with its own /proc) waits at a gate,
 * so that what is left inside the downtime is criu itself.
 */
export interface PendingRestore {
  /**
   * Restores the tree and hands it to the helper. A lazy restore calls `resumed` when the tree
   * runs, and resolves only once the daemon has copied every page in: until then the images are
   * the only copy of that memory. What `resumed` returns rejects when the restore must stop
   * (the daemon is killed; the caller removes the container).
   */
  run(resumed?: (resumeMs: number) => Promise<never>, gate?: ResumeGate): Promise<RestoredTree>;
  /** The restore will not run: its waiting processes exit. */
  cancel(): Promise<void>;
}

export function prepareRestore(r: RestoreRequest): PendingRestore {
  const { criu, daemon } = startChain(r);
  const stdin = stdinPipe(r.tree.stdio);
  const beforeCriu = (): void => {
    if (stdin) carryUnreadStdin(r.helperPid, r.imagesDir, stdin);
  };
  return pending(r, criu, daemon, beforeCriu);
}

/**
 * The helper's fd that replaces one of the source's stdio: the same kind (a pipe, or a pts: the
 * new container must have been created with -t / -i as the source was), opened the way the tree
 * uses it. A terminal is opened without becoming the agent's controlling terminal.
 */
function openHelperStdio(hp: number, s: ReattachedStdio): number {
  const p = `/proc/${hp}/fd/${s.fd}`;
  const link = fs.readlinkSync(p);
  const tty = s.key.startsWith('tty[');
  if (tty ? !isPts(link) : !link.startsWith('pipe:')) {
    throw new Error(`the new container's fd ${s.fd} is ${link}, not a ${tty ? 'terminal' : 'pipe'} like the source's`);
  }
  const { O_RDWR, O_NOCTTY, O_RDONLY, O_WRONLY } = fs.constants;
  return fs.openSync(p, tty ? O_RDWR | O_NOCTTY : s.fd === 0 ? O_RDONLY : O_WRONLY);
}

/** The share-mounts tool: built beside the restore helper (packages/restore-init). */
export function shareMountsTool(helperPath: string): string {
  return path.join(path.dirname(helperPath), 'share-mounts');
}

/**
 * criu restore gives the tree a mount namespace of its own: its tmpfs mounts hold the carried
 * content, the helper's (which `docker exec` and `docker cp` enter) are the new container's,
 * empty. The helper's namespace gets the tree's mounts over its own: one tmpfs at each path.
 */
async function shareTmpfs(appPid: number, helperPid: number, t: RestoreRequest['tmpfs']): Promise<void> {
  const paths = mountInfo(appPid).filter((m) => m.fsType === 'tmpfs' && t.paths.includes(m.mountPoint)).map((m) => m.mountPoint);
  if (paths.length === 0) return;
  await runOk(t.shareMountsPath, [String(appPid), String(helperPid), ...new Set(paths)], { timeoutMs: 10_000 });
  trace(`dst: tmpfs shared with the helper: ${paths.join(' ')}`);
}

/** criu restore's chain, gated, and (lazily) CRIU's lazy-pages daemon, gated too. */
function startChain(r: RestoreRequest): { criu: CriuProcess; daemon: CriuProcess | undefined } {
  const hp = r.helperPid;
  const c = r.container;
  const dirs = processCgroupDirs(hp);
  const sourceMounts = parseMountInfo(r.tree.externalMounts);
  const mountSources: Record<string, string> = {};
  for (const m of c.Mounts ?? []) mountSources[m.Destination] = m.Source;
  const mountMap = mapExternalMounts(sourceMounts.map((m) => m.mountPoint), sourceMounts, {
    dockerFiles: { '/etc/hosts': c.HostsPath, '/etc/hostname': c.HostnamePath, '/etc/resolv.conf': c.ResolvConfPath },
    cgroupDirs: dirs,
    mountSources,
  });

  const fds = new InheritedFds();
  let criu: CriuProcess;
  let daemon: CriuProcess | undefined;
  try {
    // The container's netns and its stdio (the helper's: log pipes, stdin pipe, terminal), for criu's --inherit-fd.
    const netnsFd = fds.add(fs.openSync(`/proc/${hp}/ns/net`, 'r'));
    const stdio = r.tree.stdio.map((s) => ({ key: s.key, fd: fds.add(openHelperStdio(hp, s)) }));
    const pidFile = path.join(r.imagesDir, 'restore.pid');
    fs.mkdirSync(r.imagesDir, { recursive: true }); // criu's cwd
    criu = startCriu({
      prefix: [
        'sh', '-c', JOIN_CGROUPS, 'livemig-join-cgroups',
        ...[...dirs.values()].map((d) => `${d}/cgroup.procs`), '--',
        'nsenter', '-t', String(hp), '-p', '--',
        'unshare', '-m', '--propagation', 'unchanged', '--mount-proc', '--',
      ],
      criuPath: r.criuPath,
      args: restoreArgs({
        imagesDir: r.imagesDir,
        rootDir: overlayDirs(c).merged,
        pidFile,
        mountMap,
        netnsFd,
        stdio,
        lazyPages: r.lazyPages,
      }),
      imagesDir: r.imagesDir,
      logName: 'restore.log',
      extraFds: fds,
      timeoutMs: r.timeoutMs,
    });
    // The daemon needs no namespace of the container: restore hands it the userfaultfds.
    if (r.lazyPages) {
      daemon = startCriu({
        prefix: [], criuPath: r.criuPath, args: lazyPagesDaemonArgs(r.imagesDir), imagesDir: r.imagesDir,
        logName: LAZY_PAGES_LOG, statusFd: true, timeoutMs: r.timeoutMs,
      });
    }
  } finally {
    fds.close(); // the child has its own
  }
  return { criu, daemon };
}

/** The gated chain as a restore to run (or cancel). */
function pending(r: RestoreRequest, criu: CriuProcess, daemon: CriuProcess | undefined, beforeCriu: () => void): PendingRestore {
  const hp = r.helperPid;
  const cancel = async (): Promise<void> => {
    await Promise.all([criu.cancel(), daemon?.cancel()]);
  };
  return {
    run: async (resumed, gate) => {
      const started = performance.now();
      let running = false; // the tree runs, lazily: its memory is not all in
      try {
        beforeCriu();
        // criu restore connects to the daemon's socket early on: it must be listening.
        const pagesIn = daemon?.release();
        if (daemon) {
          await daemon.ready;
          trace('dst: lazy-pages daemon ready');
        }
        await criu.release();
        trace('dst: criu restore exited');
        // criu exited: the restored root task is now the helper's only child. Tell the helper.
        const kids = childrenOf(hp);
        if (kids.length !== 1) throw new Error(`restore left ${kids.length} processes under the helper, expected 1`);
        await shareTmpfs(kids[0], hp, r.tmpfs);
        await gate?.(hp);
        process.kill(hp, 'SIGUSR1');
        running = daemon !== undefined;
        const resumedAt = performance.now();
        const stop = daemon ? resumed?.(resumedAt - started) : undefined;
        await (stop ? Promise.race([pagesIn, stop]) : pagesIn);
        if (daemon) trace('dst: lazy-pages daemon exited: every page in');
        return { appPid: kids[0], resumeMs: resumedAt - started, lazyPages: Boolean(daemon), pagesInMs: daemon ? performance.now() - resumedAt : 0 };
      } catch (err) {
        // A tree whose pages stop coming in reads zeros where they were missing: it must not run
        // on. The helper is its PID namespace's init: the kernel kills the rest with it.
        if (running) {
          try {
            process.kill(hp, 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await cancel();
        throw err;
      }
    },
    cancel,
  };
}
