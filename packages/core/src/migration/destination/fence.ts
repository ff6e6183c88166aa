// The fence of the lease (protocol/lease.ts): a small process, not the agent, that kills the
// restored copy when the lease runs out. The agent itself cannot be trusted to: stopped (SIGSTOP,
// a hung VM) its timers do not fire; killed, nothing of it is left. So the agent starts, in its
// own session (a signal to the agent's process group does not reach it), a bash that reads
// lines from a pipe the agent holds:
//   a number   the seconds left of the lease from now (the agent writes one on each echoed beat)
//   disarm     Commit: exit 0, never kill
// Silence for as long as the last number said, or the pipe's end (the agent died), kills the
// helper, the copy's PID namespace init: the kernel kills the whole tree with it. It decides
// alone, so a disarm and an expiry cannot both happen: its exit code says which one did.
import { spawn, type ChildProcess } from 'node:child_process';

export const FENCE_SCRIPT = [
  't=$1; pid=$2',
  'while IFS= read -r -t "$t" line; do',
  '  case "$line" in disarm) exit 0 ;; *) t=$line ;; esac',
  'done',
  'kill -KILL "$pid" 2>/dev/null',
  'exit 3',
].join('\n');

/** What the lease needs of its fence (fakes in unit tests). */
export interface Fence {
  /** The lease has `ms` left from now. */
  extend(ms: number): void;
  /** Resolves true if disarmed (the copy will never be killed by it), false if it fired first. */
  disarm(): Promise<boolean>;
  /** Ends the fence without killing (the rollback removes the copy itself). */
  stop(): void;
}

/** The seconds bash's read -t takes: never 0 (that polls without reading). */
function seconds(ms: number): string {
  return (Math.max(ms, 1) / 1000).toFixed(3);
}

/** Starts the fence of the copy whose PID namespace init is `helperPid`, `ms` left from now. */
export function startFence(helperPid: number, ms: number): Fence {
  const child: ChildProcess = spawn('bash', ['-c', FENCE_SCRIPT, 'livemig-fence', seconds(ms), String(helperPid)], {
    detached: true, // its own session: outlives the agent, and a signal to the agent's group
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', () => resolve(null));
  });
  child.stdin?.on('error', () => undefined); // it exited: its exit code says why
  const write = (line: string): void => {
    if (child.exitCode === null && child.stdin?.writable) child.stdin.write(`${line}\n`);
  };
  return {
    extend: (left) => write(seconds(left)),
    disarm: async () => {
      write('disarm');
      return (await exited) === 0;
    },
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
