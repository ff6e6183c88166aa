import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureKdatDir } from './kdat-cache';

describe('ensureKdatDir', () => {
  let base: string;
  beforeEach(() => (base = fs.mkdtempSync(path.join(os.tmpdir(), 'kdat-'))));
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('makes the directory, only its owner may use it', () => {
    const dir = path.join(base, 'criu');
    ensureKdatDir(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    ensureKdatDir(dir); // again: kept as it is
    expect(fs.statSync(dir).isDirectory()).toBe(true);
  });

  it('refuses a directory others may write to, a symlink, or a file', () => {
    const open = path.join(base, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    expect(() => ensureKdatDir(open)).toThrow(/only this user can write: group or others may write to it \(mode 0777\); remove it/);
    const link = path.join(base, 'link');
    fs.symlinkSync(base, link);
    expect(() => ensureKdatDir(link)).toThrow(/remove it/);
    const file = path.join(base, 'file');
    fs.writeFileSync(file, '');
    expect(() => ensureKdatDir(file)).toThrow(/remove it/);
  });

  it("refuses another user's directory", () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (chown)');
    const theirs = path.join(base, 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, 65534, 65534);
    expect(() => ensureKdatDir(theirs)).toThrow(/remove it/);
  });

  it('leaves it to CRIU to probe when there is no place for the directory', () => {
    expect(() => ensureKdatDir(path.join(base, 'missing', 'criu'))).not.toThrow();
  });
});
