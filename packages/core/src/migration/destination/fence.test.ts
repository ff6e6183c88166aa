// The fence with real processes: a sleep stands for the copy's PID namespace init.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { FENCE_SCRIPT, startFence } from './fence';

const exited = (p: ChildProcess): Promise<NodeJS.Signals | null> => new Promise((r) => p.once('exit', (_code, signal) => r(signal)));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('startFence', () => {
  let copy: ChildProcess;
  afterEach(() => copy.kill('SIGKILL'));

  it('kills the copy when the lease is not extended in time', async () => {
    copy = spawn('sleep', ['30']);
    const started = performance.now();
    const fence = startFence(copy.pid as number, 300);
    expect(await exited(copy)).toBe('SIGKILL');
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await fence.disarm()).toBe(false); // it fired: the copy must not be committed
  });

  it('each extension moves the deadline; disarmed, it never kills', async () => {
    copy = spawn('sleep', ['30']);
    const fence = startFence(copy.pid as number, 300);
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      fence.extend(300);
    }
    expect(copy.exitCode).toBeNull();
    expect(await fence.disarm()).toBe(true);
    await sleep(500);
    expect(copy.exitCode === null && copy.signalCode === null).toBe(true);
  });

  it('kills the copy at once when its agent goes (the pipe ends), long before the lease', async () => {
    copy = spawn('sleep', ['30']);
    // The fence's own script, its pipe held here: ending it is what the agent's death does.
    const fence = spawn('bash', ['-c', FENCE_SCRIPT, 'livemig-fence', '10.000', String(copy.pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
    await sleep(100);
    expect(copy.exitCode).toBeNull();
    const started = performance.now();
    fence.stdin?.end();
    expect(await exited(copy)).toBe('SIGKILL');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('stopped by its agent (a rollback), it kills nothing', async () => {
    copy = spawn('sleep', ['30']);
    startFence(copy.pid as number, 200).stop();
    await sleep(500);
    expect(copy.exitCode === null && copy.signalCode === null).toBe(true);
  });
});
