import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseGetfattrDump, readTreeXattrs, setXattr, unescapeOctal } from './xattrs';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdiff-xattrs-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('unescapeOctal', () => {
  it('decodes getfattr octal escapes and leaves other bytes alone', () => {
    expect(unescapeOctal(Buffer.from('a\\012b\\134c\\075\\9x\\', 'latin1'))).toEqual(Buffer.from('a\nb\\c=\\9x\\', 'latin1'));
  });
});

describe('parseGetfattrDump', () => {
  it('parses files, escaped names, empty and hex values', () => {
    const dump = Buffer.from(
      '# file: /r/we\\012ird\\134name=#x\nuser.b=0x68656c6c6f\n\n# file: /r/d\nuser.a\\075b=0x00ff\nuser.e=0x\n\n',
      'latin1',
    );
    const map = parseGetfattrDump(dump);
    expect([...map.keys()]).toEqual(['/r/we\nird\\name=#x', '/r/d']);
    expect(map.get('/r/we\nird\\name=#x')).toEqual({ 'user.b': Buffer.from('hello') });
    expect(map.get('/r/d')).toEqual({ 'user.a=b': Buffer.from([0, 0xff]), 'user.e': Buffer.alloc(0) });
  });

  it('rejects attribute lines before any file line', () => {
    expect(() => parseGetfattrDump(Buffer.from('user.a=0x00\n'))).toThrow(/unexpected getfattr output/);
  });
});

describe('readTreeXattrs / setXattr', () => {
  it('reads a whole tree in one go, including symlinks and odd file names', async () => {
    const odd = path.join(dir, 'new\nline\\back slash');
    fs.writeFileSync(odd, 'x');
    fs.writeFileSync(path.join(dir, 'plain'), 'no xattrs');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync('plain', path.join(dir, 'sub', 'link'));
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x3d, 0xc3, 0x28]);

    await setXattr(odd, 'user.bin', binary);
    await setXattr(odd, 'user.empty', Buffer.alloc(0));
    await setXattr(path.join(dir, 'sub'), 'trusted.overlay.opaque', Buffer.from('y'));
    await setXattr(path.join(dir, 'sub', 'link'), 'trusted.mark', Buffer.from('on-the-link'));

    const map = await readTreeXattrs(dir);
    expect(map.get(odd)).toEqual({ 'user.bin': binary, 'user.empty': Buffer.alloc(0) });
    expect(map.get(path.join(dir, 'sub'))).toEqual({ 'trusted.overlay.opaque': Buffer.from('y') });
    // -h: the symlink's own xattr, not set on (nor read from) its target.
    expect(map.get(path.join(dir, 'sub', 'link'))).toEqual({ 'trusted.mark': Buffer.from('on-the-link') });
    expect(map.has(path.join(dir, 'plain'))).toBe(false);
    expect(map.has(dir)).toBe(false);
  });

  it('handles large values', async () => {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, '');
    const value = Buffer.alloc(3000, 0xab);
    await setXattr(file, 'user.large', value);
    expect((await readTreeXattrs(dir)).get(file)).toEqual({ 'user.large': value });
  });

  it('reports getfattr failures', async () => {
    await expect(readTreeXattrs(path.join(dir, 'missing'))).rejects.toThrow(/getfattr failed/);
  });
});
