import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseRegex, tailLines, waitForLine } from './when-log';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'when-log-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('tailLines', () => {
  it('gives each complete line once, holding a partial one until its end comes', () => {
    const f = path.join(dir, 'log');
    const next = tailLines(f);
    expect(next()).toEqual([]); // not there yet
    fs.writeFileSync(f, 'one\ntw');
    expect(next()).toEqual(['one']);
    fs.appendFileSync(f, 'o\nthree\n');
    expect(next()).toEqual(['two', 'three']);
    expect(next()).toEqual([]);
  });
});

describe('waitForLine', () => {
  const src = (f: string) => ({ what: 'the log', lines: tailLines(f) });

  it('resolves with the first matching line, one written while it waits included', async () => {
    const f = path.join(dir, 'log');
    fs.writeFileSync(f, 'starting\n');
    setTimeout(() => fs.appendFileSync(f, 'warming\nREADY on 8080\nlater\n'), 100);
    await expect(waitForLine(src(f), parseRegex('^READY'), 5000, async () => true)).resolves.toBe('READY on 8080');
  });

  it('times out with a clear error', async () => {
    const f = path.join(dir, 'log');
    fs.writeFileSync(f, 'starting\n');
    await expect(waitForLine(src(f), /READY/, 150, async () => true)).rejects.toThrow('no line matched /READY/ in the log within 0.15 s; nothing was checkpointed');
  });

  it('stops when the container exits first', async () => {
    const f = path.join(dir, 'log');
    await expect(waitForLine(src(f), /READY/, 5000, async () => false)).rejects.toThrow(/ended \(the container exited\) before a line matched/);
  });

  it('refuses a regex that does not compile', () => {
    expect(() => parseRegex('(')).toThrow(/--when-log: Invalid regular expression/);
  });
});
