import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { walkedPaths, walkTree } from './tree-walk';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tree-walk-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the native tree walk', () => {
  it('gives every path, root first, parents before children, names sorted, with lstat\'s inode, ctime, mode and link count', async () => {
    fs.mkdirSync(path.join(dir, 'b/c'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'a'));
    fs.writeFileSync(path.join(dir, 'b/c/f'), 'x');
    fs.linkSync(path.join(dir, 'b/c/f'), path.join(dir, 'b/linked'));
    fs.writeFileSync(path.join(dir, 'Z'), '');
    fs.symlinkSync(path.join(dir, 'b'), path.join(dir, 'to-b')); // a link to a directory: not followed
    fs.writeFileSync(path.join(dir, 'naïve'), 'utf-8 name');
    const walked = [...walkedPaths(await walkTree(dir), dir)];
    expect(walked.map((w) => w.rel)).toEqual(['.', 'Z', 'a', 'b', 'b/c', 'b/c/f', 'b/linked', 'naïve', 'to-b']);
    for (const w of walked) {
      const st = fs.lstatSync(path.join(dir, w.rel), { bigint: true });
      expect({ rel: w.rel, ino: w.ino, ctimeNs: w.ctimeNs, mode: w.mode, nlink: w.nlink }).toEqual({
        rel: w.rel, ino: st.ino, ctimeNs: st.ctimeNs, mode: Number(st.mode), nlink: Number(st.nlink),
      });
    }
  });

  it('refuses a name that is not UTF-8, and output cut short', async () => {
    fs.writeFileSync(Buffer.concat([Buffer.from(dir), Buffer.from([0x2f, 0x61, 0xff])]), 'x');
    const out = await walkTree(dir);
    expect(() => [...walkedPaths(out, dir)]).toThrow(/not valid UTF-8/);
    expect(() => [...walkedPaths(out.subarray(0, 40), dir)]).toThrow(/cut short/);
  });

  it('fails on a root that is not a directory', async () => {
    fs.writeFileSync(path.join(dir, 'f'), '');
    await expect(walkTree(path.join(dir, 'f'))).rejects.toThrow(/tree-walk/);
  });
});
