import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PAGE_SIZE, type Run } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';
// The one test that pairs both ends: the store rebuilds what the source's index split off.
import { PageIndex } from '../source/page-index';
import { PrecopyStore } from './precopy-store';

function pages(buf: Buffer, start: number, count: number): Buffer {
  return buf.subarray(start * PAGE_SIZE, (start + count) * PAGE_SIZE);
}

/** The MigrationError `fn` throws (fails the test if it throws nothing or something else). */
function migrationErrorOf(fn: () => unknown): MigrationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MigrationError);
    return err as MigrationError;
  }
  throw new Error('expected a MigrationError, nothing was thrown');
}

describe('PrecopyStore', () => {
  let dir: string;
  const opened: PrecopyStore[] = [];
  const fds: number[] = [];
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-precopy-'))));
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
    for (const fd of fds.splice(0)) fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function store(maxBytes: number): PrecopyStore {
    fs.mkdirSync(path.join(dir, 'precopy'), { recursive: true });
    const s = new PrecopyStore(path.join(dir, 'precopy'), maxBytes);
    opened.push(s);
    return s;
  }

  /** The file of segment `k`. */
  const segmentFile = (k: number): string => path.join(dir, 'precopy', `segment-${k}.pages`);

  function output(name: string): { fd: number; file: string } {
    const file = path.join(dir, name);
    const fd = fs.openSync(file, 'w');
    fds.push(fd);
    return { fd, file };
  }

  it('stores pages arriving in pieces of any size, and counts the whole ones', () => {
    const data = crypto.randomBytes(5 * PAGE_SIZE);
    const s = store(1024 * 1024);
    expect(s.pages).toBe(0);
    s.append(0, data.subarray(0, 5000));
    expect(s.pages).toBe(1);
    s.append(0, data.subarray(5000, 5001));
    s.append(0, data.subarray(5001));
    expect(s.pages).toBe(5);
    s.seal();
    expect(fs.readFileSync(segmentFile(0)).equals(data)).toBe(true);
  });

  it('checks runs: the page count of valid ones; a run beyond the store or of no page is refused', () => {
    const s = store(1024 * 1024);
    s.append(0, crypto.randomBytes(5 * PAGE_SIZE));
    s.seal();
    expect(s.check([[0, 5]])).toBe(5);
    expect(s.check([[4, 1]])).toBe(1);
    expect(
      s.check([
        [1, 2],
        [4, 1],
        [0, 1],
      ]),
    ).toBe(4);
    expect(s.check([])).toBe(0);
    for (const bad of [[[4, 2]], [[5, 1]], [[0, 6]], [[0, 0]], [[3, 0]], [[0, 2], [9, 1]]] as Run[][]) {
      const err = migrationErrorOf(() => s.check(bad));
      expect(err.kind).toBe('protocol');
      expect(err.message).toMatch(/outside the 5 pre-copied pages/);
    }
  });

  it('copies the pages of runs to the end of a file', () => {
    const data = crypto.randomBytes(6 * PAGE_SIZE);
    const s = store(6 * PAGE_SIZE);
    s.append(0, data.subarray(0, 5000));
    s.append(0, data.subarray(5000));
    s.seal();
    const { fd, file } = output('pages-1.img');
    fs.writeSync(fd, 'header');
    const runs: Run[] = [
      [3, 2],
      [0, 1],
      [5, 1],
      [3, 1],
    ];
    s.copyRuns(runs, fd);
    const expected = Buffer.concat([Buffer.from('header'), pages(data, 3, 2), pages(data, 0, 1), pages(data, 5, 1), pages(data, 3, 1)]);
    expect(fs.readFileSync(file).equals(expected)).toBe(true);
    s.copyRuns([[1, 1]], fd);
    expect(fs.readFileSync(file).equals(Buffer.concat([expected, pages(data, 1, 1)]))).toBe(true);
  });

  it('copies a run longer than its copy buffer', () => {
    const data = crypto.randomBytes(600 * PAGE_SIZE);
    const s = store(data.length);
    for (let at = 0; at < data.length; at += 1 << 20) s.append(0, data.subarray(at, at + (1 << 20)));
    s.seal();
    expect(s.pages).toBe(600);
    const { fd, file } = output('pages-2.img');
    s.copyRuns([[10, 550]], fd);
    expect(fs.readFileSync(file).equals(pages(data, 10, 550))).toBe(true);
  });

  it('refuses more than the bytes announced, keeping what it had', () => {
    const s = store(3 * PAGE_SIZE);
    s.append(0, Buffer.alloc(2 * PAGE_SIZE, 1));
    const err = migrationErrorOf(() => s.append(0, Buffer.alloc(PAGE_SIZE + 1, 2)));
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/exceeds/);
    expect(s.pages).toBe(2);
    expect(fs.statSync(segmentFile(0)).size).toBe(2 * PAGE_SIZE);
    s.append(0, Buffer.alloc(PAGE_SIZE, 3)); // exactly up to the limit
    expect(s.pages).toBe(3);
    s.seal();
  });

  it('refuses to seal a store that does not hold whole pages', () => {
    const s = store(1024 * 1024);
    s.append(0, Buffer.alloc(5000));
    const err = migrationErrorOf(() => s.seal());
    expect(err.kind).toBe('protocol');
    expect(err.message).toMatch(/5000 bytes/);
    s.append(0, Buffer.alloc(2 * PAGE_SIZE - 5000));
    expect(() => s.seal()).not.toThrow();
  });

  it('refuses a file that already exists', () => {
    const s = store(PAGE_SIZE);
    fs.writeFileSync(segmentFile(0), 'planted');
    expect(() => s.append(0, Buffer.alloc(PAGE_SIZE))).toThrow(/EEXIST/);
    expect(fs.readFileSync(segmentFile(0), 'utf8')).toBe('planted');
  });

  it('keeps one file per segment, numbered in order, with store pages counted across them', () => {
    const data = crypto.randomBytes(6 * PAGE_SIZE);
    const s = store(data.length);
    s.append(0, pages(data, 0, 2));
    s.append(1, pages(data, 2, 3));
    expect(() => s.append(0, pages(data, 5, 1))).toThrow(/pre-copy segment 0 after segment 1/);
    expect(() => s.append(3, pages(data, 5, 1))).toThrow(/pre-copy segment 3 after segment 1/);
    s.append(2, pages(data, 5, 1));
    s.seal();
    expect(s.pages).toBe(6);
    expect(fs.readFileSync(segmentFile(1)).equals(pages(data, 2, 3))).toBe(true);
    // A run over the end of segment 0 goes on in segment 1.
    const { fd, file } = output('pages-1.img');
    expect(s.check([[1, 3]])).toBe(3);
    s.copyRuns([[1, 3]], fd);
    expect(fs.readFileSync(file).equals(pages(data, 1, 3))).toBe(true);
  });

  it('refuses to start a segment while the last one holds part of a page', () => {
    const s = store(1024 * 1024);
    s.append(0, Buffer.alloc(100));
    expect(() => s.append(1, Buffer.alloc(PAGE_SIZE))).toThrow(/segment 0 holds 100 bytes, not whole pages/);
  });

  it('hands a segment over once, and still copies from its file', () => {
    const data = crypto.randomBytes(4 * PAGE_SIZE);
    const s = store(data.length);
    s.append(0, pages(data, 0, 2));
    s.append(1, pages(data, 2, 2));
    s.seal();
    const taken = s.take(1);
    expect(taken).toEqual({ file: segmentFile(1), bytes: 2 * PAGE_SIZE });
    expect(fs.readFileSync(taken.file).equals(pages(data, 2, 2))).toBe(true);
    expect(() => s.take(1)).toThrow(/segment 1 is not there to adopt/);
    expect(() => s.take(7)).toThrow(/segment 7 is not there to adopt/);
    // The image's tail may still copy pages from the file it took.
    expect(s.check([[1, 2]])).toBe(2);
    const { fd, file } = output('pages-5.img');
    s.copyRuns([[1, 2]], fd);
    expect(fs.readFileSync(file).equals(pages(data, 1, 2))).toBe(true);
  });

  it('rebuilds a pages image from what a PageIndex on the other side split off', () => {
    const precopy = crypto.randomBytes(20 * PAGE_SIZE);
    const index = new PageIndex();
    const s = store(precopy.length);
    try {
      for (let at = 0; at < precopy.length; at += 3 * PAGE_SIZE) {
        index.add(precopy.subarray(at, at + 3 * PAGE_SIZE));
        s.append(0, precopy.subarray(at, at + 3 * PAGE_SIZE));
      }
      s.seal();
      // The dump: pages of the pre-copy in another order, one of them changed, and new ones.
      const changed = Buffer.from(pages(precopy, 7, 1));
      changed[10] ^= 1;
      const image = Buffer.concat([pages(precopy, 10, 5), changed, crypto.randomBytes(2 * PAGE_SIZE), pages(precopy, 0, 3), pages(precopy, 19, 1)]);
      const { fd, file } = output('pages-3.img');
      for (const seg of index.split(image)) {
        if ('literal' in seg) fs.writeSync(fd, seg.literal);
        else {
          expect(s.check(seg.reuse)).toBeGreaterThan(0);
          s.copyRuns(seg.reuse, fd);
        }
      }
      expect(fs.readFileSync(file).equals(image)).toBe(true);
      expect(index.reused).toBe(9);
      expect(index.sent).toBe(3);
    } finally {
      s.close();
    }
  });
});
