import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandLine, isPts, outsideTree, stdioToReattach, ttyKey } from './process-facts';

describe('stdio to re-attach', () => {
  const tty = (fd: number): string => `tty[8800:1a]#${fd}`;

  it('names a pts as CRIU does: rdev and dev in hex', () => {
    expect(ttyKey({ rdev: 0x8800n, dev: 0x1an })).toBe('tty[8800:1a]');
    expect(isPts('/dev/pts/0')).toBe(true);
    expect(isPts('/dev/ptmx')).toBe(false);
  });

  it('a plain container: its log pipes (stdin is /dev/null, restored as a file)', () => {
    expect(stdioToReattach({ stdin: '/dev/null', stdout: 'pipe:[11]', stderr: 'pipe:[12]' }, tty))
      .toEqual([{ key: 'pipe:[11]', fd: 1 }, { key: 'pipe:[12]', fd: 2 }]);
  });

  it('-i: the stdin pipe too', () => {
    expect(stdioToReattach({ stdin: 'pipe:[10]', stdout: 'pipe:[11]', stderr: 'pipe:[12]' }, tty))
      .toEqual([{ key: 'pipe:[10]', fd: 0 }, { key: 'pipe:[11]', fd: 1 }, { key: 'pipe:[12]', fd: 2 }]);
  });

  it('-t: one terminal on all three fds, once', () => {
    const one = (): string => 'tty[8800:1a]';
    expect(stdioToReattach({ stdin: '/dev/pts/0', stdout: '/dev/pts/0', stderr: '/dev/pts/0' }, one))
      .toEqual([{ key: 'tty[8800:1a]', fd: 0 }]);
  });

  it('leaves anything else to CRIU', () => {
    expect(stdioToReattach({ stdin: '/data/in', stdout: 'socket:[5]', stderr: '' }, tty)).toEqual([]);
  });
});

describe('outsideTree', () => {
  it('names the members whose ancestry leaves the group before it reaches the root (docker exec)', async () => {
    const child = spawn('sleep', ['30']);
    try {
      await new Promise((r) => child.once('spawn', r));
      const pid = child.pid ?? 0;
      // Our parent stands for an exec'd process: a member whose parent is outside the group.
      const members = [process.pid, pid, process.ppid];
      expect(outsideTree(members, process.pid, -1)).toEqual([process.ppid]);
      expect(outsideTree(members, process.pid, process.ppid)).toEqual([]); // the container's init is not one
      expect(outsideTree([process.pid, pid, 999_999_999], process.pid, -1)).toEqual([]); // gone: in no tree
      expect(commandLine(pid)).toBe('sleep 30');
    } finally {
      child.kill();
    }
  });
});
