import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { carryUnreadStdin, stdinPipe } from './stdin-in-flight';

/** pipes-data.img with one pipe's data (the layout pipe-data-image.ts reads). */
function pipesData(id: number, data: string): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x54564319, 0);
  head.writeUInt32LE(0x56453709, 4);
  const pb = Buffer.from([0x08, id, 0x10, data.length]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(pb.length);
  return Buffer.concat([head, len, pb, Buffer.from(data)]);
}

async function waitForLine(text: () => string): Promise<string> {
  for (let i = 0; i < 100 && !text().includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
  return text();
}

describe('unread stdin carried into the new container', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('picks the stdin pipe, not the log pipes or a terminal', () => {
    expect(stdinPipe([{ key: 'pipe:[11]', fd: 1 }, { key: 'pipe:[10]', fd: 0 }])).toEqual({ key: 'pipe:[10]', fd: 0 });
    expect(stdinPipe([{ key: 'tty[8800:1a]', fd: 0 }])).toBeUndefined();
  });

  it('writes the bytes the source had not read into the stdin pipe of the process, which reads them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stdin-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'pipes-data.img'), pipesData(42, 'typed before the freeze\n'));
    // `head -n1` stands for the restored tree: its stdin is a pipe (Node's own stdio would be a
    // socket) whose writer, like Docker's, writes nothing. It says its PID first.
    const reader = spawn('sh', ['-c', 'sleep 30 | sh -c \'echo $$; exec head -n1\''], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    let out = '';
    reader.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      const pid = Number((await waitForLine(() => out)).trim());
      expect(carryUnreadStdin(pid, dir, { key: 'pipe:[42]', fd: 0 })).toBe(24);
      await waitForLine(() => out.split('\n').slice(1).join('\n'));
      expect(out.split('\n')[1]).toBe('typed before the freeze');
    } finally {
      process.kill(-(reader.pid ?? 0), 'SIGKILL');
    }
    // Another pipe's data, or no image at all: nothing to carry.
    expect(carryUnreadStdin(process.pid, dir, { key: 'pipe:[7]', fd: 0 })).toBe(0);
    fs.rmSync(path.join(dir, 'pipes-data.img'));
    expect(carryUnreadStdin(process.pid, dir, { key: 'pipe:[42]', fd: 0 })).toBe(0);
  });
});
