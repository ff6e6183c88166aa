import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlatFileApplier } from './flat-file-applier';
import type { EntryBody, EntryHeader } from './tar-format';

function body(...chunks: Buffer[]): EntryBody {
  return Object.assign((async function* () { yield* chunks; })(), { resume: () => undefined });
}

describe('FlatFileApplier', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-flat-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes regular files of a flat tree, in pieces or whole', async () => {
    const a = new FlatFileApplier(dir);
    await a.apply({ name: '.', type: 'directory' }, body());
    await a.apply({ name: 'core-1.img', type: 'file', size: 6 }, body(Buffer.from('cor'), Buffer.from('e-1')));
    await a.apply({ name: 'inventory.img', type: 'file', size: 0 }, body());
    await a.finish();
    expect(fs.readFileSync(path.join(dir, 'core-1.img'), 'utf8')).toBe('core-1');
    expect(fs.readdirSync(dir).sort()).toEqual(['core-1.img', 'inventory.img']);
  });

  it('appends a name that comes again to the file its first entry made (images sent as CRIU writes them)', async () => {
    const a = new FlatFileApplier(dir);
    await a.apply({ name: 'pages-1.img', type: 'file', size: 3 }, body(Buffer.from('abc')));
    await a.apply({ name: 'pages-1.img', type: 'file', size: 2 }, body(Buffer.from('de')));
    await a.apply({ name: 'pages-1.img', type: 'file', size: 0 }, body());
    expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'utf8')).toBe('abcde');
  });

  it.each<[string, EntryHeader, RegExp]>([
    ['a subdirectory', { name: 'sub/x.img', type: 'file', size: 0 }, /not a plain file name/],
    ['a path out', { name: '../x.img', type: 'file', size: 0 }, /not a plain file name/],
    ['a symlink', { name: 'x.img', type: 'symlink', linkname: '/etc/passwd' }, /symlink entry/],
    ['a directory', { name: 'd', type: 'directory' }, /directory entry/],
    ['a bad size', { name: 'x.img', type: 'file', size: -1 }, /invalid size/],
  ])('refuses %s', async (_what, header, why) => {
    await expect(new FlatFileApplier(dir).apply(header, body())).rejects.toThrow(why);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a body that does not match its size, an existing file, and a symlink in the way', async () => {
    const a = new FlatFileApplier(dir);
    await expect(a.apply({ name: 'long.img', type: 'file', size: 2 }, body(Buffer.from('abc')))).rejects.toThrow(/longer/);
    await expect(a.apply({ name: 'short.img', type: 'file', size: 9 }, body(Buffer.from('abc')))).rejects.toThrow(/truncated/);
    fs.writeFileSync(path.join(dir, 'pages-1.img'), 'not made by this applier');
    await expect(a.apply({ name: 'pages-1.img', type: 'file', size: 1 }, body(Buffer.from('x')))).rejects.toThrow(/EEXIST/);
    fs.symlinkSync('/etc/passwd', path.join(dir, 'evil.img'));
    await expect(a.apply({ name: 'evil.img', type: 'file', size: 1 }, body(Buffer.from('x')))).rejects.toThrow(/EEXIST|ELOOP/);
    expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'utf8')).toBe('not made by this applier');
  });

  it('keeps to its byte budget', async () => {
    const a = new FlatFileApplier(dir, 4);
    await a.apply({ name: 'a.img', type: 'file', size: 3 }, body(Buffer.from('abc')));
    await expect(a.apply({ name: 'b.img', type: 'file', size: 2 }, body(Buffer.from('de')))).rejects.toThrow(/byte budget/);
  });
});
