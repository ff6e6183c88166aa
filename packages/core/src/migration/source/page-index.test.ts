import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PAGE_SIZE, type Run } from '../../protocol/checkpoint-layout';
import { BLOCK_PAGES, PageIndex, type ImageOp, type Segment } from './page-index';

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
    index = new PageIndex();
  });
  afterEach(() => {
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

});

/**
 * What the destination makes of an image's ops: segments adopted from `segments`, patches
 * written, runs copied from the store as it is then (an adopted segment's pages are its image's,
 * patched), appends after a tail kept apart and appended at the end.
 */
function applyOps(ops: ImageOp[], segments: Buffer[], store: Buffer): Buffer {
  let image = Buffer.alloc(0);
  let adopted = -1;
  let tail: { at: number; bytes: Buffer } | undefined;
  const storeNow = (): Buffer =>
    adopted < 0 ? store : Buffer.concat(segments.map((seg, k) => (k === adopted ? Buffer.concat([image, Buffer.alloc(seg.length)]).subarray(0, seg.length) : seg)));
  for (const op of ops) {
    if ('adopt' in op) {
      expect(image.length).toBe(0); // only ever the first op
      image = Buffer.from(segments[op.adopt]);
      adopted = op.adopt;
    } else if ('patch' in op) {
      expect(tail).toBeUndefined();
      const grown = Buffer.alloc(Math.max(image.length, op.at + op.patch.length));
      image.copy(grown);
      op.patch.copy(grown, op.at);
      image = grown;
    } else if ('tail' in op) {
      tail = { at: op.tail, bytes: Buffer.alloc(0) };
    } else if ('size' in op) {
      image = tail ? Buffer.concat([image.subarray(0, tail.at), tail.bytes]) : image.subarray(0, op.size);
      expect(image.length).toBe(op.size);
    } else if (tail) {
      tail.bytes = Buffer.concat([tail.bytes, rebuild([op], storeNow())]);
    } else {
      image = Buffer.concat([image, rebuild([op], store)]);
    }
  }
  return image;
}

describe('ImagePlan', () => {
  /** An index of segments of random pages (one per process), and the segments. */
  function indexOf(...pageCounts: number[]): { index: PageIndex; segments: Buffer[]; store: Buffer } {
    const index = new PageIndex();
    const segments = pageCounts.map((n) => crypto.randomBytes(n * PAGE_SIZE));
    for (const seg of segments) {
      index.startSegment();
      index.add(seg);
    }
    return { index, segments, store: Buffer.concat(segments) };
  }

  /** Feeds `image` to a plan in pieces of `pieceSize` bytes; all its ops. */
  function plan(index: PageIndex, image: Buffer, pieceSize: number): ImageOp[] {
    const p = index.image();
    const ops: ImageOp[] = [];
    for (let at = 0; at < image.length; at += pieceSize) ops.push(...p.ops(image.subarray(at, at + pieceSize)));
    ops.push(...p.end());
    return ops;
  }

  it('adopts the segment an unchanged image is, and sends nothing of it', () => {
    const { index, segments, store } = indexOf(3, 8);
    const ops = plan(index, segments[1], 3 * PAGE_SIZE);
    expect(ops).toEqual([{ adopt: 1 }, { size: 8 * PAGE_SIZE }]);
    expect(applyOps(ops, segments, store).equals(segments[1])).toBe(true);
    expect(index.reused).toBe(8);
    expect(index.sent).toBe(0);
  });

  it('patches the pages that changed, the first one too, and grows or trims to the image', () => {
    const { index, segments, store } = indexOf(8);
    const image = Buffer.from(segments[0]);
    image[5] ^= 1; // page 0
    image[4 * PAGE_SIZE + 9] ^= 1; // page 4
    const longer = Buffer.concat([image, crypto.randomBytes(2 * PAGE_SIZE)]);
    const ops = plan(index, longer, 4 * PAGE_SIZE);
    expect(ops[0]).toEqual({ adopt: 0 });
    expect(ops.filter((o) => 'patch' in o).map((o) => ('patch' in o ? [o.at, o.patch.length] : []))).toEqual([
      [0, PAGE_SIZE],
      [4 * PAGE_SIZE, PAGE_SIZE],
      [8 * PAGE_SIZE, 2 * PAGE_SIZE],
    ]);
    expect(applyOps(ops, segments, store).equals(longer)).toBe(true);
    expect(index.sent).toBe(4);
    expect(index.reused).toBe(6);

    const shorter = new PageIndex();
    shorter.add(segments[0]);
    const cut = segments[0].subarray(0, 5 * PAGE_SIZE + 100); // and a partial last page
    const cutOps = plan(shorter, cut, 1 << 20);
    expect(cutOps[cutOps.length - 1]).toEqual({ size: cut.length });
    expect(applyOps(cutOps, segments, store).equals(cut)).toBe(true);
  });

  it.each([
    ['whole blocks', 1 << 20],
    ['pieces that cut blocks', 5 * PAGE_SIZE],
  ])('checks long images a block at a time, and finds the changed page in a block (%s)', (_what, pieceSize) => {
    const { index, segments, store } = indexOf(2, 45); // blocks 0-1 whole, 13 pages after
    const image = Buffer.from(segments[1]);
    image[(BLOCK_PAGES + 3) * PAGE_SIZE + 100] ^= 0xff; // page 19, in block 1
    image[44 * PAGE_SIZE] ^= 0xff; // the last page, past the last whole block
    const ops = plan(index, image, pieceSize);
    expect(ops[0]).toEqual({ adopt: 1 });
    expect(ops.filter((o) => 'patch' in o).map((o) => ('patch' in o ? o.at / PAGE_SIZE : -1))).toEqual([19, 44]);
    expect(applyOps(ops, segments, store).equals(image)).toBe(true);
    expect(index.sent).toBe(2);
    expect(index.reused).toBe(43);
  });

  it.each([
    ['pages gained', 2],
    ['pages lost', -3],
  ])('goes on with a tail where an adopted image stops lining up (%s), copying unpatched pages of its own segment', (_what, shift) => {
    const { index, segments, store } = indexOf(3, 60);
    const seg = segments[1];
    const changed = Buffer.from(seg.subarray(PAGE_SIZE, 2 * PAGE_SIZE));
    changed[0] ^= 1; // page 1 changed: patched in place
    const head = Buffer.concat([seg.subarray(0, PAGE_SIZE), changed, seg.subarray(2 * PAGE_SIZE, 10 * PAGE_SIZE)]);
    // From page 10 on, the rest of the segment moved by `shift` pages (new ones, or some gone).
    const rest = shift > 0 ? Buffer.concat([crypto.randomBytes(shift * PAGE_SIZE), seg.subarray(10 * PAGE_SIZE)]) : seg.subarray((10 - shift) * PAGE_SIZE);
    const image = Buffer.concat([head, rest]);
    const ops = plan(index, image, 8 * PAGE_SIZE);
    expect(ops[0]).toEqual({ adopt: 1 });
    expect(ops.filter((o) => 'patch' in o).map((o) => ('patch' in o ? o.at : -1))).toEqual([PAGE_SIZE]);
    const tailAt = ops.findIndex((o) => 'tail' in o);
    expect(ops[tailAt]).toEqual({ tail: (shift > 0 ? 10 : 10) * PAGE_SIZE });
    // The tail copies the moved pages from the segment: few bytes are sent.
    const sentAfter = ops.slice(tailAt).reduce((n, o) => n + ('literal' in o ? o.literal.length : 0), 0);
    expect(sentAfter).toBe(Math.max(shift, 0) * PAGE_SIZE);
    expect(applyOps(ops, segments, store).equals(image)).toBe(true);
  });

  it('checks a shifted tail a block of its segment at a time: one digest per block, runs that go on', () => {
    const { index, segments, store } = indexOf(2000);
    const seg = segments[0];
    // New pages in the middle (memory a process touched since the pre-copy): the rest is a tail.
    const image = Buffer.concat([seg.subarray(0, 300 * PAGE_SIZE), crypto.randomBytes(3 * PAGE_SIZE), seg.subarray(300 * PAGE_SIZE)]);
    const hash = vi.spyOn(crypto, 'hash');
    try {
      const ops = plan(index, image, 256 * PAGE_SIZE); // 1 MiB pieces, as the source reads them
      expect(applyOps(ops, segments, store).equals(image)).toBe(true);
      expect(ops[0]).toEqual({ adopt: 0 });
      expect(ops.find((o) => 'tail' in o)).toEqual({ tail: 300 * PAGE_SIZE });
      // Page by page it takes ~2260 (the first piece is looked at whole to pick a segment);
      // blocks do not cross pieces, so each piece has up to a block's worth page by page.
      expect(hash.mock.calls.length).toBeLessThan(700);
      const runs = ops.flatMap((o) => ('reuse' in o ? o.reuse : []));
      expect(runs[0][0]).toBe(300);
      for (let i = 1; i < runs.length; i++) expect(runs[i][0]).toBe(runs[i - 1][0] + runs[i - 1][1]);
      expect(runs.reduce((n, [, count]) => n + count, 0)).toBe(1700);
    } finally {
      hash.mockRestore();
    }
  });

  it("never takes a block of an adopted segment that holds a page patched there", () => {
    const { index, segments, store } = indexOf(32);
    index.adopt(0);
    const open = { segment: 0, patched: new Set([20]) };
    const stored = Buffer.from(store);
    stored[20 * PAGE_SIZE] ^= 1; // what the image file holds there now
    const parts = index.split(segments[0], open);
    expect(shape(parts)).toEqual([{ reuse: [[0, 20]] }, { literalBytes: PAGE_SIZE }, { reuse: [[21, 11]] }]);
    expect(rebuild(parts, stored).equals(segments[0])).toBe(true);
  });

  it('tells apart processes with the same pages: each image takes its own segment, in order', () => {
    const index = new PageIndex();
    const common = crypto.randomBytes(32 * PAGE_SIZE);
    const segments = [common, Buffer.concat([common, crypto.randomBytes(16 * PAGE_SIZE)])]; // memhog 32 and 48
    for (const seg of segments) {
      index.startSegment();
      index.add(seg);
    }
    const store = Buffer.concat(segments);
    const first = plan(index, segments[0], 1 << 20);
    const second = plan(index, segments[1], 1 << 20);
    expect(first).toEqual([{ adopt: 0 }, { size: segments[0].length }]);
    expect(second).toEqual([{ adopt: 1 }, { size: segments[1].length }]);
    expect(index.sent).toBe(0);
    // A third image of the same pages finds them in no segment left, but by content elsewhere:
    // the copies in the adopted segments are not usable, so they are sent.
    const third = plan(index, common, 1 << 20);
    expect(applyOps(third, segments, store).equals(common)).toBe(true);
  });

  it('finds a page by content in a segment not taken when the first copy is in one taken', () => {
    const index = new PageIndex();
    const common = crypto.randomBytes(4 * PAGE_SIZE);
    const other = crypto.randomBytes(4 * PAGE_SIZE);
    const segments = [common, Buffer.concat([other, common])];
    for (const seg of segments) {
      index.startSegment();
      index.add(seg);
    }
    expect(plan(index, common, 1 << 20)[0]).toEqual({ adopt: 0 });
    // Not lined up with segment 1 (shifted by a new page): built from it, by content.
    const image = Buffer.concat([crypto.randomBytes(PAGE_SIZE), common]);
    const ops = plan(index, image, 1 << 20);
    expect(ops.map((o) => ('reuse' in o ? o.reuse : 'literal' in o ? o.literal.length : o))).toEqual([PAGE_SIZE, [[8, 4]]]);
    expect(applyOps(ops, segments, Buffer.concat(segments)).equals(image)).toBe(true);
  });

  it('copies from the store when the image does not line up with a segment', () => {
    const { index, segments, store } = indexOf(4, 4);
    // Segment 1's pages shifted by one new page: no page sits where it was.
    const image = Buffer.concat([crypto.randomBytes(PAGE_SIZE), segments[1]]);
    const ops = plan(index, image, 1 << 20);
    expect(ops.some((o) => 'adopt' in o)).toBe(false);
    expect(ops.map((o) => ('reuse' in o ? o.reuse : 'literal' in o ? o.literal.length : o))).toEqual([PAGE_SIZE, [[4, 4]]]);
    expect(applyOps(ops, segments, store).equals(image)).toBe(true);
  });

  it('does not copy from, nor adopt again, a segment another image adopted', () => {
    const { index, segments, store } = indexOf(4);
    expect(plan(index, segments[0], 1 << 20)[0]).toEqual({ adopt: 0 });
    const again = plan(index, segments[0], 1 << 20);
    expect(again.some((o) => 'adopt' in o || 'reuse' in o)).toBe(false);
    expect(applyOps(again, segments, store).equals(segments[0])).toBe(true);
  });
});
