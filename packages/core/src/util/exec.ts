import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with an argument array (never a shell) and resolves with its output and exit code. */
export function run(file: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${file}: ${err.message}`));
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

/** Like run, but a non-zero exit is an error carrying the last line of stderr. */
export async function runOk(file: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    throw new Error(`${file} ${args[0] ?? ''} failed (exit ${r.code}): ${last}`);
  }
  return r.stdout;
}

/**
 * Runs a program with an argument array (never through a shell, so names from
 * the peer cannot be interpreted) and resolves with its whole stdout as bytes.
 */
export function runCommand(file: string, args: readonly string[], acceptFailure?: (code: number | null, stderr: string) => boolean, stdinFd?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [stdinFd ?? 'ignore', 'pipe', 'pipe'] }) as ChildProcessByStdio<null, Readable, Readable>;
    const out: Buffer[] = [];
    let errText = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (errText.length < 4096) errText += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0 || acceptFailure?.(code, errText)) resolve(Buffer.concat(out));
      else reject(new Error(`${file} failed (${signal ?? `exit code ${code}`}): ${errText.trim()}`));
    });
  });
}
