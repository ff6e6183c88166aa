import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UnsafeEntryError } from './entry-checks';
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

  it('appendWith creates a new name and lands the bytes its writer puts', () => {
    const a = new FlatFileApplier(dir);
    const fds: number[] = [];
    a.appendWith('pages-1.img', 5, (fd) => {
      fds.push(fd);
      fs.writeSync(fd, Buffer.from('hello'));
    });
    expect(fds).toHaveLength(1);
    expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'utf8')).toBe('hello');
    expect(fs.statSync(path.join(dir, 'pages-1.img')).mode & 0o777).toBe(0o600);
    a.appendWith('pages-1.img', 3, (fd) => fs.writeSync(fd, Buffer.from('123')));
    expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'utf8')).toBe('hello123');
  });

  it('appendWith appends after the entries of the same name, and entries after it', async () => {
    const a = new FlatFileApplier(dir);
    await a.apply({ name: 'pages-2.img', type: 'file', size: 3 }, body(Buffer.from('abc')));
    a.appendWith('pages-2.img', 2, (fd) => fs.writeSync(fd, Buffer.from('de')));
    await a.apply({ name: 'pages-2.img', type: 'file', size: 1 }, body(Buffer.from('f')));
    expect(fs.readFileSync(path.join(dir, 'pages-2.img'), 'utf8')).toBe('abcdef');
  });

  it.each(['../x', 'sub/x.img', '.hidden', ''])('appendWith refuses the name %j without calling its writer', (name) => {
    const a = new FlatFileApplier(dir);
    let called = false;
    expect(() =>
      a.appendWith(name, 1, (fd) => {
        called = true;
        fs.writeSync(fd, 'x');
      }),
    ).toThrow(UnsafeEntryError);
    expect(called).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.existsSync(path.join(dir, '..', 'x'))).toBe(false);
  });

  it('appendWith keeps to the byte budget, shared with the entries', async () => {
    const a = new FlatFileApplier(dir, 10);
    let calls = 0;
    const write = (fd: number): void => {
      calls++;
      fs.writeSync(fd, 'x');
    };
    expect(() => a.appendWith('big.img', 11, write)).toThrow(UnsafeEntryError);
    expect(() => a.appendWith('big.img', 11, write)).toThrow(/byte budget/);
    expect(calls).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([]);
    await a.apply({ name: 'a.img', type: 'file', size: 6 }, body(Buffer.from('abcdef')));
    expect(() => a.appendWith('a.img', 5, write)).toThrow(/byte budget/);
    expect(calls).toBe(0);
    a.appendWith('a.img', 4, (fd) => {
      calls++;
      fs.writeSync(fd, 'wxyz');
    }); // 6 + 4: exactly the budget
    expect(calls).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'a.img'), 'utf8')).toBe('abcdefwxyz');
    expect(() => a.appendWith('a.img', 1, write)).toThrow(/byte budget/);
  });

  it('appendWith refuses a writer that appends other than the announced size, and a size that is no size', () => {
    const a = new FlatFileApplier(dir, 100);
    expect(() => a.appendWith('a.img', 4, (fd) => fs.writeSync(fd, 'x'))).toThrow(/1 bytes appended where 4 were announced/);
    expect(() => a.appendWith('b.img', NaN, () => undefined)).toThrow(/invalid size NaN/);
    expect(() => a.appendWith('b.img', -5, () => undefined)).toThrow(/invalid size -5/);
  });

  it('appendWith refuses a file it did not make, and closes the file when its writer fails', () => {
    const a = new FlatFileApplier(dir);
    fs.writeFileSync(path.join(dir, 'pages-3.img'), 'planted');
    let called = false;
    expect(() => a.appendWith('pages-3.img', 1, () => (called = true))).toThrow(/EEXIST/);
    expect(called).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'pages-3.img'), 'utf8')).toBe('planted');

    let used = -1;
    expect(() =>
      a.appendWith('pages-4.img', 1, (fd) => {
        used = fd;
        throw new Error('writer failed');
      }),
    ).toThrow('writer failed');
    expect(used).toBeGreaterThanOrEqual(0);
    // The fd is closed: it no longer names the file (the number may since name another).
    let target = '';
    try {
      target = fs.readlinkSync(`/proc/self/fd/${used}`);
    } catch {
      target = '';
    }
    expect(target).not.toBe(path.join(fs.realpathSync(dir), 'pages-4.img'));
  });

  it('adopts a file of ours as the first content of an image, then writes at offsets and sizes it', async () => {
    const a = new FlatFileApplier(dir, 100);
    const from = path.join(dir, '..', `${path.basename(dir)}-segment`);
    fs.writeFileSync(from, 'abcdefgh');
    try {
      a.adopt('pages-1.img', from, 8);
      expect(fs.existsSync(from)).toBe(false); // moved, not copied
      await a.writeAt('pages-1.img', 2, body(Buffer.from('XY')));
      await a.writeAt('pages-1.img', 10, body(Buffer.from('Z'))); // past the end: grows
      expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'latin1')).toBe('abXYefgh\0\0Z');
      a.setSize('pages-1.img', 4);
      expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'latin1')).toBe('abXY');
    } finally {
      fs.rmSync(from, { force: true });
    }
  });

  it('refuses to adopt into an image already written, and offsets or sizes for an image not made', async () => {
    const a = new FlatFileApplier(dir, 100);
    await a.apply({ name: 'pages-2.img', type: 'file', size: 1 }, body(Buffer.from('x')));
    const from = path.join(dir, 'segment');
    fs.writeFileSync(from, 'abc');
    expect(() => a.adopt('pages-2.img', from, 3)).toThrow(/adopted after it was written/);
    await expect(a.writeAt('pages-9.img', 0, body(Buffer.from('x')))).rejects.toThrow(/written at an offset before it was made/);
    expect(() => a.setSize('pages-9.img', 0)).toThrow(/written at an offset before it was made/);
    await expect(a.writeAt('pages-2.img', -1, body(Buffer.from('x')))).rejects.toThrow(/invalid offset -1/);
  });

  it('counts what adopting, writing past the end and growing add against the byte budget', async () => {
    const a = new FlatFileApplier(dir, 10);
    const from = path.join(dir, 'segment');
    fs.writeFileSync(from, 'abcdefgh');
    a.adopt('pages-1.img', from, 8);
    await expect(a.writeAt('pages-1.img', 8, body(Buffer.from('xyz')))).rejects.toThrow(/byte budget/);
    await a.writeAt('pages-1.img', 0, body(Buffer.from('xyz'))); // within the file: nothing added
    a.setSize('pages-1.img', 10);
    expect(() => a.setSize('pages-1.img', 11)).toThrow(/byte budget/);
  });

  it('builds the rest of an image apart from a tail offset, and puts it in place at its size', async () => {
    const a = new FlatFileApplier(dir, 100);
    const from = path.join(dir, 'segment');
    fs.writeFileSync(from, 'abcdefgh');
    a.adopt('pages-1.img', from, 8);
    a.startTail('pages-1.img', 3);
    expect(() => a.startTail('pages-1.img', 3)).toThrow(/has a tail already/);
    // Appends go to the tail; the image itself still reads as before (its pages are copied from).
    await a.apply({ name: 'pages-1.img', type: 'file', size: 2 }, body(Buffer.from('XY')));
    a.appendWith('pages-1.img', 3, (fd) => fs.writeSync(fd, 'fgh'));
    expect(fs.readFileSync(path.join(dir, 'pages-1.img'), 'utf8')).toBe('abcdefgh');
    expect(() => a.setSize('pages-1.img', 9)).toThrow(/8 bytes with its tail, 9 announced/);
  });

  it('a tail put in place gives exactly the announced image', () => {
    const a = new FlatFileApplier(dir, 100);
    const from = path.join(dir, 'segment');
    fs.writeFileSync(from, 'abcdefgh');
    a.adopt('pages-2.img', from, 8);
    a.startTail('pages-2.img', 2);
    a.appendWith('pages-2.img', 4, (fd) => fs.writeSync(fd, 'WXYZ'));
    a.setSize('pages-2.img', 6);
    expect(fs.readFileSync(path.join(dir, 'pages-2.img'), 'utf8')).toBe('abWXYZ');
    expect(fs.readdirSync(dir).sort()).toEqual(['pages-2.img']);
  });

  it('joins head and tail by copying the smaller part, either way the same image', () => {
    const a = new FlatFileApplier(dir, 100);
    const from = path.join(dir, 'segment');
    fs.writeFileSync(from, 'abcdefgh');
    a.adopt('pages-3.img', from, 8);
    a.startTail('pages-3.img', 6); // head 6 bytes, tail 1: the tail is appended to the image
    a.appendWith('pages-3.img', 1, (fd) => fs.writeSync(fd, 'Z'));
    a.setSize('pages-3.img', 7);
    expect(fs.readFileSync(path.join(dir, 'pages-3.img'), 'utf8')).toBe('abcdefZ');
    fs.writeFileSync(from, 'abcdefgh');
    a.adopt('pages-4.img', from, 8);
    a.startTail('pages-4.img', 1); // head 1 byte, tail 9: the head goes in front of the tail
    a.appendWith('pages-4.img', 9, (fd) => fs.writeSync(fd, 'NEWbcdefg'));
    a.setSize('pages-4.img', 10);
    expect(fs.readFileSync(path.join(dir, 'pages-4.img'), 'utf8')).toBe('aNEWbcdefg');
    expect(fs.readdirSync(dir).sort()).toEqual(['pages-3.img', 'pages-4.img']);
  });
});
