import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirDurably, writeFileDurably } from './durable-write';

describe('writeFileDurably', () => {
  let base: string;
  beforeEach(() => (base = fs.mkdtempSync(path.join(os.tmpdir(), 'durable-'))));
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('writes the content, owner-only, and leaves no temp file behind', () => {
    const file = path.join(base, 'record.json');
    writeFileDurably(file, '{"a":1}');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a":1}');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(base)).toEqual(['record.json']);
  });

  it('replaces a file whole, and an empty marker is a file too', () => {
    const file = path.join(base, 'record.json');
    writeFileDurably(file, 'a much longer first version');
    writeFileDurably(file, 'short');
    expect(fs.readFileSync(file, 'utf8')).toBe('short');
    writeFileDurably(path.join(base, 'marker'), '');
    expect(fs.readFileSync(path.join(base, 'marker'), 'utf8')).toBe('');
    expect(fs.readdirSync(base).sort()).toEqual(['marker', 'record.json']);
  });

  it('resets the mode of a temp file a crash left behind', () => {
    const file = path.join(base, 'r');
    const stale = path.join(base, `.r.${process.pid}.tmp`);
    fs.writeFileSync(stale, 'old', { mode: 0o666 });
    fs.chmodSync(stale, 0o666);
    writeFileDurably(file, 'new');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(base)).toEqual(['r']);
  });

  it('leaves no temp file when the rename fails', () => {
    fs.mkdirSync(path.join(base, 'taken'));
    fs.writeFileSync(path.join(base, 'taken', 'x'), '');
    expect(() => writeFileDurably(path.join(base, 'taken'), 'data')).toThrow();
    expect(fs.readdirSync(base)).toEqual(['taken']);
  });
});

describe('makeDirDurably', () => {
  let base: string;
  beforeEach(() => (base = fs.mkdtempSync(path.join(os.tmpdir(), 'durable-'))));
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('makes every missing level 0700, and is a no-op when the dir exists', () => {
    const dir = path.join(base, 'a', 'b');
    makeDirDurably(dir);
    expect(fs.statSync(path.join(base, 'a')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(() => makeDirDurably(dir)).not.toThrow();
  });
});
