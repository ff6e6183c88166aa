import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir } from './private-dir';

describe('ensurePrivateDir', () => {
  let base: string;
  beforeEach(() => (base = fs.mkdtempSync(path.join(os.tmpdir(), 'private-dir-'))));
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('makes a missing dir (and its parents) 0700, and accepts it again', () => {
    const dir = path.join(base, 'state', 'agent');
    expect(ensurePrivateDir(dir, 'state dir')).toBe(true);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.dirname(dir)).mode & 0o777).toBe(0o700);
    expect(ensurePrivateDir(dir, 'state dir')).toBe(true);
  });

  it('accepts an existing dir of its own that others may only read', () => {
    const dir = path.join(base, 'readable');
    fs.mkdirSync(dir, { mode: 0o755 });
    expect(ensurePrivateDir(dir, 'state dir')).toBe(true);
  });

  it('refuses, in one line saying why, a dir group or others may write to', () => {
    const dir = path.join(base, 'open');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    expect(() => ensurePrivateDir(dir, 'scratch dir')).toThrow(
      `${dir} (scratch dir) is not a directory that only this user can write: group or others may write to it (mode 0777); remove it`,
    );
    fs.chmodSync(dir, 0o770);
    expect(() => ensurePrivateDir(dir, 'scratch dir')).toThrow(/mode 0770/);
  });

  it("refuses another user's dir", () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (chown)');
    const dir = path.join(base, 'theirs');
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    expect(() => ensurePrivateDir(dir, 'scratch dir')).toThrow(/: it is owned by uid 65534, not 0; remove it$/);
  });

  it('refuses a symlink (even to a good dir) and a file', () => {
    const good = path.join(base, 'good');
    fs.mkdirSync(good, { mode: 0o700 });
    const link = path.join(base, 'link');
    fs.symlinkSync(good, link);
    expect(() => ensurePrivateDir(link, 'x')).toThrow(/it is a symlink; remove it/);
    const file = path.join(base, 'file');
    fs.writeFileSync(file, '');
    expect(() => ensurePrivateDir(file, 'x')).toThrow(/it is not a directory; remove it/);
  });

  it('parents: false: no parent, no dir, and no error', () => {
    expect(ensurePrivateDir(path.join(base, 'missing', 'dir'), 'x', { parents: false })).toBe(false);
    expect(fs.existsSync(path.join(base, 'missing'))).toBe(false);
  });
});
