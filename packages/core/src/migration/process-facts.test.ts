import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandLine, outsideTree } from './process-facts';

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
