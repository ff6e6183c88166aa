import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import fs from 'node:fs';
import path from 'node:path';
import { trace } from '../util/trace';
import type { InheritedFds } from './inherited-fds';

export class CriuError extends Error {
  constructor(
    message: string,
    readonly logFile: string,
  ) {
    super(message);
  }
}

/**
 * "Error" lines CRIU logs on every run on hosts without CAP_SYS_RESOURCE (it then keeps the
 * current limit): never the reason for a failure.
 */
const HARMLESS = [/rlimit: Can't setup RLIMIT_NOFILE for self/];

/** The last few distinct "Error" lines of a CRIU log: what an operator needs to see. */
export function criuLogErrors(logText: string, max = 3): string[] {
  const lines = logText
    .split('\n')
    .filter((l) => /\bError\b/.test(l) && !HARMLESS.some((h) => h.test(l)))
    .map((l) => l.replace(/^\(\d+\.\d+\)\s*/, '').replace(/^\d+:\s*/, '').trim());
  const distinct: string[] = [];
  for (const l of lines.reverse()) if (!distinct.includes(l) && distinct.push(l) === max) break;
  return distinct.reverse();
}

/** A full disk also cuts CRIU's log short, so its reason may be missing there: say it. */
function diskFullNote(dir: string): string {
  try {
    const st = fs.statfsSync(dir);
    const free = st.bavail * st.bsize;
    return free < 16 * 1024 * 1024 ? `; the disk holding ${dir} is full (${free} bytes free)` : '';
  } catch {
    return '';
  }
}

export interface CriuRun {
  /** Program and arguments placed before `criu ...` (e.g. nsenter ... --), or [] */
  prefix: string[];
  criuPath: string;
  args: string[];
  imagesDir: string;   // also where CRIU writes its log
  logName: string;     // dump.log / restore.log
  extraFds?: InheritedFds; // the child's fds from 3 on
  timeoutMs?: number;  // from the release
  /** criu gets `--status-fd` on a pipe of ours: `ready` resolves when it says it is ready. */
  statusFd?: boolean;
}

/** A CRIU run started up to its last step before criu itself (see startCriu). */
export interface CriuProcess {
  /** criu runs now; resolves when it exits 0, rejects with the log's errors otherwise. */
  release(): Promise<void>;
  /** criu never runs (or, released, is killed): the chain exits; resolves once it has. */
  cancel(): Promise<void>;
  /** With `statusFd`: criu reported ready (a daemon listening); rejects if it exits first. */
  ready: Promise<void>;
}

// The chain's last step: waits for "go" on the gate fd ($1), then execs criu. EOF (the agent
// cancelled, or died) ends it without running criu.
const GATE = 'read -r go <&"$1" && [ "$go" = go ] || exit 125; eval "exec $1<&-"; shift; exec "$@"';

/** Runs CRIU and resolves when it exits 0; rejects with the log's errors otherwise. */
export function runCriu(r: CriuRun): Promise<void> {
  return startCriu(r, false).release();
}

/**
 * Starts `prefix... criu args...`. Gated, the prefix (processes that join namespaces and
 * cgroups: milliseconds each) runs now and criu only at release(): the work left for when the
 * images are in is exec'ing criu. The caller may close its copies of `extraFds` on return.
 */
export function startCriu(r: CriuRun, gated = true): CriuProcess {
  // The child's fds: stdio, what the caller hands over, then our pipes, each numbered where added.
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'pipe', 'pipe', ...(r.extraFds?.fds ?? [])];
  const pipeSlot = (): number => stdio.push('pipe') - 1;
  const statusFd = r.statusFd ? pipeSlot() : -1;
  const gateFd = gated ? pipeSlot() : -1;
  const gate = gated ? ['sh', '-c', GATE, 'livemig-gate', String(gateFd)] : [];
  const args = r.statusFd ? [...r.args, '--status-fd', String(statusFd)] : r.args;
  const argv = [...r.prefix, ...gate, r.criuPath, ...args];
  const logFile = path.join(r.imagesDir, r.logName);
  // Its own process group: a prefix may fork (nsenter -p does, to enter the pid namespace) and
  // then only wait for criu; killing the chain's first process would leave criu running (and
  // holding our pipes open, so that the exit is never seen). A timeout or a cancel kills the group.
  const child = spawn(argv[0], argv.slice(1), { cwd: r.imagesDir, stdio, killSignal: 'SIGKILL', detached: true });
  const kill = (): void => killGroup(child);
  trace(`criu ${r.args[0]}: spawned${gated ? ' (gated)' : ''}`);
  const gateSocket = gated ? (child.stdio[gateFd] as Writable) : undefined;
  gateSocket?.on('error', () => undefined); // the chain gone: its exit says why
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = r.timeoutMs ?? 300_000;
  let cancelled = false;
  let timedOut = false;
  const exited = new Promise<void>((resolve, reject) => {
    child.on('exit', () => trace(`criu ${r.args[0]}: exited`));
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-4096);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CriuError(`cannot run ${argv[0]}: ${err.message}`, logFile));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      if (cancelled) return reject(new CriuError(`criu ${r.args[0]} cancelled`, logFile));
      if (timedOut) return reject(new CriuError(`criu ${r.args[0]} timed out after ${timeoutMs / 1000} s (killed)`, logFile));
      let errors: string[] = [];
      try {
        errors = criuLogErrors(fs.readFileSync(logFile, 'utf8'));
      } catch {
        // no log: the failure happened before criu started (nsenter, unshare)
      }
      const why = (errors.length ? errors.join('; ') : output.trim().split('\n').pop() ?? '') + diskFullNote(r.imagesDir);
      // The log's place is for the caller to tell: the images dir goes with a rollback.
      reject(new CriuError(`criu ${r.args[0]} failed (${signal ?? `exit ${code}`}): ${why}`, logFile));
    });
  });
  exited.catch(() => undefined); // before release, the caller looks only when it releases
  const ready = r.statusFd ? readyOn(child.stdio[statusFd] as Readable, exited, r.args[0]) : exited;
  ready.catch(() => undefined);
  let released = false;
  const release = (): Promise<void> => {
    released = true;
    timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    gateSocket?.end('go\n');
    return exited;
  };
  if (!gated) {
    const done = release();
    return { release: () => done, cancel: async () => undefined, ready };
  }
  return {
    release,
    ready,
    cancel: async () => {
      cancelled = true;
      gateSocket?.destroy(); // EOF at the gate
      if (released) kill(); // criu runs: nothing else stops a daemon
      const killer = setTimeout(kill, 5_000);
      await exited.catch(() => undefined);
      clearTimeout(killer);
    },
  };
}

/**
 * SIGKILL to every process of the chain's group: criu and what it forked, whichever of them
 * still runs (the chain's first process may be gone, the group lives on while any member does).
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // no group left: the child at most
  }
}

/** criu writes one byte to its status fd when ready; exiting first is a failure. */
function readyOn(status: Readable, exited: Promise<void>, command: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    status.once('data', () => resolve());
    status.on('error', () => undefined);
    exited.then(
      () => reject(new Error(`criu ${command} exited before it was ready`)),
      (err: unknown) => reject(err),
    );
  });
}
