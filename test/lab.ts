// Drives the one-machine lab (scripts/lab.sh) from end-to-end tests.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..');
const LAB = path.join(ROOT, 'scripts', 'lab.sh');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[], input?: string, timeoutMs = 300_000): Result {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function lab(...args: string[]): Result {
  return sh('bash', [LAB, ...args]);
}

/** Runs the docker CLI on a node; throws with docker's message when it fails. */
export function docker(node: string, ...args: string[]): string {
  const r = lab('docker', node, ...args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} on ${node} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** docker, but returns the result instead of throwing. */
export function tryDocker(node: string, ...args: string[]): Result {
  return lab('docker', node, ...args);
}

export function cli(node: string, ...args: string[]): Result {
  return lab('cli', node, ...args);
}

export function inNode(node: string, ...cmd: string[]): Result {
  return lab('exec', node, ...cmd);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns a truthy value or the time runs out. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Removes containers of the given names on both nodes (test hygiene, not assertions). */
export function removeEverywhere(...names: string[]): void {
  for (const node of ['node1', 'node2']) {
    for (const n of names) lab('docker', node, 'rm', '-f', n);
  }
}
