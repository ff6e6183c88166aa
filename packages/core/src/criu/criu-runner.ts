import { spawn } from 'node:child_process';
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import path from 'node:path';

export class CriuError extends Error {
  constructor(
    message: string,
    readonly logFile: string,
  ) {
    super(message);
  }
}

/** The last few "Error" lines of a CRIU log: what an operator needs to see. */
export function criuLogErrors(logText: string, max = 3): string[] {
  return logText
    .split('\n')
    .filter((l) => /\bError\b|\(00\.\d+\) Error/.test(l))
    .slice(-max)
    .map((l) => l.replace(/^\(\d+\.\d+\)\s*/, '').trim());
}

export interface CriuRun {
  /** Program and arguments placed before `criu ...` (e.g. nsenter ... --), or [] */
  prefix: string[];
  criuPath: string;
  args: string[];
  imagesDir: string;   // also where CRIU writes its log
  logName: string;     // dump.log / restore.log
  extraFds?: number[]; // become fds 3, 4, ... of the child
  /**
   * Adds a connected unix socket as the next fd (3 without extraFds) and hands our end over,
   * right after the spawn. (libuv's socketpair: blocking on CRIU's side, as its page-server
   * code expects; a socket of ours passed down would be non-blocking.)
   */
  withSocket?: (ours: Duplex) => void;
  timeoutMs?: number;
  signal?: AbortSignal; // kills criu (e.g. a page server that is no longer wanted)
}

/** Runs CRIU and resolves when it exits 0; rejects with the log's errors otherwise. */
export function runCriu(r: CriuRun): Promise<void> {
  const argv = [...r.prefix, r.criuPath, ...r.args];
  const logFile = path.join(r.imagesDir, r.logName);
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: r.imagesDir,
      stdio: ['ignore', 'pipe', 'pipe', ...(r.extraFds ?? []), ...(r.withSocket ? ['pipe' as const] : [])],
      signal: r.signal,
      killSignal: 'SIGKILL',
    });
    const socket = child.stdio[3 + (r.extraFds?.length ?? 0)];
    if (r.withSocket && socket) r.withSocket(socket as Duplex);
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-4096);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), r.timeoutMs ?? 300_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CriuError(`cannot run ${argv[0]}: ${err.message}`, logFile));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      let errors: string[] = [];
      try {
        errors = criuLogErrors(fs.readFileSync(logFile, 'utf8'));
      } catch {
        // no log: the failure happened before criu started (nsenter, unshare)
      }
      const why = errors.length ? errors.join('; ') : output.trim().split('\n').pop() ?? '';
      reject(new CriuError(`criu ${r.args[0]} failed (${signal ?? `exit ${code}`}): ${why} (log: ${logFile})`, logFile));
    });
  });
}
