import { spawn } from 'node:child_process';

/**
 * Runs a program with an argument array (never through a shell, so names from
 * the peer cannot be interpreted) and resolves with its whole stdout.
 */
export function runCommand(file: string, args: readonly string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let errText = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (errText.length < 4096) errText += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${file} failed (${signal ?? `exit code ${code}`}): ${errText.trim()}`));
    });
  });
}
