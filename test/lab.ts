// Drives the one-machine lab (scripts/lab.sh) from end-to-end tests.
import { spawn, spawnSync } from 'node:child_process';
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

/** Starts `migrate-cli push` without waiting for it. */
export function pushInBackground(from: string, container: string, to: string, ...flags: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn('bash', [LAB, 'cli', from, 'push', container, '--to', to, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
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
export async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Removes containers of the given names on both nodes (test hygiene, not assertions). */
export function removeEverywhere(...names: string[]): void {
  for (const node of ['node1', 'node2']) {
    for (const n of names) lab('docker', node, 'rm', '-f', n);
  }
}

export interface PushSummary {
  container: string;
  sourceNode: string;
  destinationNode: string;
  downtimeMs: number;
  totalMs: number;
  bytesRaw: number;
  bytesWire: number;
  phaseMs: Record<string, number>;
  sourceKept: boolean;
  compressLevel: number;
  pipelined: boolean;
  criuImageBytes: number;
  rootfsBytes: number;
  volumeBytes: number;
  /** The checkpoint stream: what moved while frozen. */
  frozenBytesRaw: number;
  frozenBytesWire: number;
  diskRounds: Array<{ bytesRaw: number; bytesWire: number; fileBytes: number; deleted: number; ms: number }>;
}

/** `migrate-cli push` on `from`, with --json; throws with the CLI's error when it fails. */
export function push(from: string, container: string, to: string, ...extra: string[]): PushSummary {
  const r = cli(from, 'push', container, '--to', to, '--json', ...extra);
  if (r.code !== 0) throw new Error(`push ${container} ${from} -> ${to} failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as PushSummary;
}

/** Runs memhog (MiB [churn PAGES]) with extra `docker run` args; resolves with its checksum once filled. */
export async function startMemhog(node: string, name: string, memhogArgs: string[], runArgs: string[] = []): Promise<string> {
  docker(node, 'run', '-d', '--name', name, ...runArgs, 'livemig-testkit:latest', 'memhog', ...memhogArgs);
  const filled = await waitFor('memhog filled', () => logs(node, name).find((l) => l.startsWith('filled')), 60_000);
  return filled.split(' ').pop() ?? '';
}

/** The last line starting with `prefix` that memhog prints after a SIGUSR1 sent now. */
export async function askMemhog(node: string, name: string, prefix: string): Promise<string> {
  const before = logs(node, name).filter((l) => l.startsWith(prefix)).length;
  docker(node, 'kill', '-s', 'USR1', name);
  const lines = await waitFor(`${name}: ${prefix}`, () => {
    const all = logs(node, name).filter((l) => l.startsWith(prefix));
    return all.length > before && all;
  }, 30_000);
  return lines[lines.length - 1];
}

/** memhog's checksum of its memory, now. */
export async function memhogChecksum(node: string, name: string): Promise<string> {
  return (await askMemhog(node, name, 'checksum')).split(' ')[1];
}

/** State.Running, State.Pid and State.StartedAt of a container, or null when it does not exist. */
export function state(node: string, name: string): { running: boolean; pid: number; startedAt: string; exitCode: number } | null {
  const r = tryDocker(node, 'inspect', '-f', '{{.State.Running}} {{.State.Pid}} {{.State.StartedAt}} {{.State.ExitCode}}', name);
  if (r.code !== 0) return null;
  const [running, pid, startedAt, exitCode] = r.stdout.trim().split(' ');
  return { running: running === 'true', pid: Number(pid), startedAt, exitCode: Number(exitCode) };
}

export function logs(node: string, name: string): string[] {
  return docker(node, 'logs', name).split('\n').filter((l) => l !== '');
}

/** The busybox counter of the acceptance tests: prints 1, 2, 3... one a second (faster here). */
export function startCounter(node: string, name: string, period = '0.2'): void {
  docker(node, 'run', '-d', '--name', name, 'busybox:latest', 'sh', '-c',
    `i=0; while true; do i=$((i+1)); echo $i; sleep ${period}; done`);
}

/** Asserts-free check: the lines are 1..n consecutive; returns n, or throws describing the gap. */
export function consecutiveFromOne(lines: string[]): number {
  lines.forEach((l, i) => {
    if (Number(l) !== i + 1) throw new Error(`line ${i + 1} is "${l}", expected ${i + 1} (restart or gap)`);
  });
  return lines.length;
}

/** Loads livemig-servers:latest (scripts/server-images.sh: Debian's PostgreSQL, nginx, OpenJDK)
 *  into both nodes' daemons; built once per host, so the first call can take minutes. */
export function loadServerImage(): void {
  for (const node of ['node1', 'node2']) {
    const r = sh('env', [`DOCKER_HOST=unix:///run/livemig-lab/${node}/docker.sock`, 'bash', path.join(ROOT, 'scripts/server-images.sh')], undefined, 1_200_000);
    if (r.code !== 0) throw new Error(`server-images.sh on ${node} failed:\n${r.stderr}`);
  }
}
