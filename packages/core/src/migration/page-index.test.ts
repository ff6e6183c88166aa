import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PAGE_SIZE } from './memory-reader';
import { decodeRuns, encodeRuns, PageIndex, type Run, type Segment } from './page-index';

/** Page `i` of `buf`. */
function page(buf: Buffer, i: number): Buffer {
  return buf.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
}

/** `buf`'s pages in the order of `order`, as one piece. */
function pagesOf(buf: Buffer, order: number[]): Buffer {
  return Buffer.concat(order.map((i) => page(buf, i)));
}

/** What the destination makes of `segments`: literal bytes as they are, runs copied from `store`. */
function rebuild(segments: Segment[], store: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (const s of segments) {
    if ('literal' in s) parts.push(s.literal);
    else for (const [start, count] of s.reuse) parts.push(store.subarray(start * PAGE_SIZE, (start + count) * PAGE_SIZE));
  }
  return Buffer.concat(parts);
}

/** Each segment with its literal bytes as a page count (or byte count), for comparisons. */
function shape(segments: Segment[]): Array<{ reuse: Run[] } | { literalBytes: number }> {
  return segments.map((s) => ('literal' in s ? { literalBytes: s.literal.length } : { reuse: s.reuse }));
}

describe('PageIndex', () => {
  let dir: string;
  let index: PageIndex;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-pageindex-'));
    index = new PageIndex(path.join(dir, 'precopy.shadow'));
  });
  afterEach(() => {
    index.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Adds `pages` random pages in pieces of `pieceSizes` pages (the rest in one), returns them. */
  function addRandom(pages: number, ...pieceSizes: number[]): Buffer {
    const data = crypto.randomBytes(pages * PAGE_SIZE);
    let at = 0;
    for (const n of [...pieceSizes, pages]) {
      const end = Math.min(pages, at + n);
      if (end > at) index.add(data.subarray(at * PAGE_SIZE, end * PAGE_SIZE));
      at = end;
    }
    return data;
  }

  it('reuses the same pages in the same order as one run', () => {
    const store = addRandom(8, 3);
    expect(index.pages).toBe(8);
    const segments = index.split(Buffer.from(store));
    expect(shape(segments)).toEqual([{ reuse: [[0, 8]] }]);
    expect(index.reused).toBe(8);
    expect(index.sent).toBe(0);
    expect(rebuild(segments, store).equals(store)).toBe(true);
  });

  it('keeps a copy of the stored pages in the shadow file', () => {
    const store = addRandom(5, 2);
    expect(fs.readFileSync(path.join(dir, 'precopy.shadow')).equals(store)).toBe(true);
  });

  it('sends exactly the page that changed, and reuses the pages around it', () => {
    const store = addRandom(8);
    const piece = Buffer.from(store);
    piece[3 * PAGE_SIZE + 100] ^= 0xff;
    const segments = index.split(piece);
    expect(shape(segments)).toEqual([{ reuse: [[0, 3]] }, { literalBytes: PAGE_SIZE }, { reuse: [[4, 4]] }]);
    const literal = segments[1];
    if (!('literal' in literal)) throw new Error('expected a literal segment');
    expect(literal.literal.equals(page(piece, 3))).toBe(true);
    expect(index.reused).toBe(7);
    expect(index.sent).toBe(1);
    expect(rebuild(segments, store).equals(piece)).toBe(true);
  });

  it('finds pages that come in another order by their content', () => {
    const store = addRandom(8);
    const piece = pagesOf(store, [4, 5, 6, 7, 0, 1, 2, 3]);
    const segments = index.split(piece);
    expect(shape(segments)).toEqual([
      {
        reuse: [
          [4, 4],
          [0, 4],
        ],
      },
    ]);
    expect(index.reused).toBe(8);
    expect(rebuild(segments, store).equals(piece)).toBe(true);
  });

  it('rebuilds a shuffled piece with repeats from the store', () => {
    const store = addRandom(40, 7, 13);
    const order = [39, 0, 1, 2, 17, 17, 5, 6, 38, 20, 21, 22, 23, 3, 3, 3, 11];
    const piece = pagesOf(store, order);
    const segments = index.split(piece);
    expect(segments.every((s) => 'reuse' in s)).toBe(true);
    expect(index.reused).toBe(order.length);
    expect(index.sent).toBe(0);
    expect(rebuild(segments, store).equals(piece)).toBe(true);
  });

  it('sends a page it never stored, between reused ones', () => {
    const store = addRandom(4);
    const fresh = crypto.randomBytes(2 * PAGE_SIZE);
    const piece = Buffer.concat([page(store, 0), page(store, 1), fresh, page(store, 2)]);
    const segments = index.split(piece);
    expect(shape(segments)).toEqual([{ reuse: [[0, 2]] }, { literalBytes: 2 * PAGE_SIZE }, { reuse: [[2, 1]] }]);
    expect(index.sent).toBe(2);
    expect(index.reused).toBe(3);
    expect(rebuild(segments, store).equals(piece)).toBe(true);
  });

  it('sends everything when nothing is stored', () => {
    const piece = crypto.randomBytes(3 * PAGE_SIZE + 10);
    const segments = index.split(piece);
    expect(shape(segments)).toEqual([{ literalBytes: piece.length }]);
    expect(index.sent).toBe(3);
    expect(index.reused).toBe(0);
    expect(rebuild(segments, Buffer.alloc(0)).equals(piece)).toBe(true);
  });

  it('sends a trailing partial page as it is', () => {
    const store = addRandom(3);
    // The tail is the start of a stored page: still not a whole page, so not reused.
    const piece = Buffer.concat([page(store, 0), page(store, 1), page(store, 2).subarray(0, 1000)]);
    const segments = index.split(piece);
    expect(shape(segments)).toEqual([{ reuse: [[0, 2]] }, { literalBytes: 1000 }]);
    expect(index.reused).toBe(2);
    expect(rebuild(segments, store).equals(piece)).toBe(true);

    // After a literal page, the tail joins it.
    const fresh = crypto.randomBytes(PAGE_SIZE + 77);
    const piece2 = Buffer.concat([page(store, 2), fresh]);
    const segments2 = index.split(piece2);
    expect(shape(segments2)).toEqual([{ reuse: [[2, 1]] }, { literalBytes: PAGE_SIZE + 77 }]);
    expect(rebuild(segments2, store).equals(piece2)).toBe(true);
  });

  it('adds only the whole pages of a piece', () => {
    const data = crypto.randomBytes(2 * PAGE_SIZE + 500);
    index.add(data);
    expect(index.pages).toBe(2);
    expect(fs.statSync(path.join(dir, 'precopy.shadow')).size).toBe(2 * PAGE_SIZE);
    expect(shape(index.split(data.subarray(0, 2 * PAGE_SIZE)))).toEqual([{ reuse: [[0, 2]] }]);
  });

  it('reuses pages added after an earlier split (the next expected page beyond what was read before)', () => {
    const first = addRandom(2);
    expect(shape(index.split(page(first, 0)))).toEqual([{ reuse: [[0, 1]] }]);
    const second = crypto.randomBytes(2 * PAGE_SIZE);
    index.add(second);
    const store = Buffer.concat([first, second]);
    const piece = pagesOf(store, [1, 2, 3]);
    const segments = index.split(piece);
    expect(shape(segments)).toEqual([{ reuse: [[1, 3]] }]);
    expect(rebuild(segments, store).equals(piece)).toBe(true);
  });

  it('handles a store bigger than its read window and its first digest table', () => {
    const pages = 5000; // > 256 pages a window, > 4096 digests at first
    const store = addRandom(pages, 256, 256, 1000, 1);
    expect(index.pages).toBe(pages);
    // The dump's order: the pre-copy's, a few pages changed; then a region read again elsewhere.
    const changed = new Set([0, 255, 256, 257, 2000, 4095, 4096, 4999]);
    const image = Buffer.from(store);
    for (const p of changed) image[p * PAGE_SIZE] ^= 0x5a;
    const rebuilt: Buffer[] = [];
    for (let at = 0; at < pages; at += 256) {
      const piece = image.subarray(at * PAGE_SIZE, Math.min(pages, at + 256) * PAGE_SIZE);
      rebuilt.push(rebuild(index.split(piece), store));
    }
    expect(Buffer.concat(rebuilt).equals(image)).toBe(true);
    expect(index.sent).toBe(changed.size);
    expect(index.reused).toBe(pages - changed.size);

    const late = pagesOf(store, [4998, 4097, 10, 4500, 4501, 4502, 300]);
    const segments = index.split(late);
    expect(shape(segments)).toEqual([
      {
        reuse: [
          [4998, 1],
          [4097, 1],
          [10, 1],
          [4500, 3],
          [300, 1],
        ],
      },
    ]);
    expect(rebuild(segments, store).equals(late)).toBe(true);
  });

  it('refuses a shadow file that already exists', () => {
    expect(() => new PageIndex(path.join(dir, 'precopy.shadow'))).toThrow(/EEXIST/);
  });

  it('closes once, however often it is closed', () => {
    index.close();
    expect(() => index.close()).not.toThrow();
  });
});

describe('encodeRuns / decodeRuns', () => {
  it('encodes runs as little-endian u32 pairs', () => {
    expect(encodeRuns([[1, 2]])).toEqual(Buffer.from([1, 0, 0, 0, 2, 0, 0, 0]));
    expect(encodeRuns([]).length).toBe(0);
  });

  it('round-trips', () => {
    const runs: Run[] = [
      [0, 1],
      [4294967295, 7],
      [123456, 256],
      [5, 0xffffffff],
    ];
    const buf = encodeRuns(runs);
    expect(buf.length).toBe(runs.length * 8);
    expect(decodeRuns(buf)).toEqual(runs);
    expect(decodeRuns(Buffer.alloc(0))).toEqual([]);
  });

  it('refuses a body that is not whole pairs', () => {
    expect(() => decodeRuns(Buffer.alloc(12))).toThrow(/not whole/);
    expect(() => decodeRuns(Buffer.alloc(7))).toThrow(/not whole/);
  });
});
