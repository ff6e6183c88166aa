// What the destination already holds of the container's memory: the pages sent in the pre-copy,
// by content, one segment per process. The kernel here has no soft-dirty tracking (CRIU's
// pre-dump needs it), so the pre-copy cannot know which pages are written after it; instead each
// page of the final dump is checked against a digest of what was sent.
//
// The dump writes a process's pages in the order the pre-copy read them, so a pages image
// usually is its process's segment with some pages changed: the destination then takes the
// segment's file as the image (adopts it) and only the changed pages are sent, written at their
// place. An image that does not line up with a segment is rebuilt by copying runs of store pages
// (found by digest) between the pages that are sent; so is the rest of an adopted image from
// where its pages stop lining up (the process gained or lost pages in front of them: a tail,
// built apart and appended at the end, which may copy the unpatched pages of its own segment).
import crypto from 'node:crypto';
import { PAGE_SIZE, type Run } from '../../protocol/checkpoint-layout';

/** Bytes of a page digest kept: SHA-256 cut to 128 bits (accidental collisions: ~2^-128 a pair). */
const DIGEST = 16;
/** Store pages of one content kept findable (a page of zeros may be in thousands of places). */
const COPIES = 4;

/** A piece of a pages image, split: bytes to send, or pages the destination copies from its store. */
export type Segment = { literal: Buffer } | { reuse: Run[] };

/** What the destination does to make a pages image, in order. */
export type ImageOp =
  | Segment // append
  | { adopt: number } // the image starts as that pre-copy segment's file (first op only)
  | { patch: Buffer; at: number } // of an adopted image: bytes written at byte offset `at`
  | { tail: number } // of an adopted image: from byte `tail` on, it is made by appends (ops after)
  | { size: number }; // of an adopted image: its final size (last op)

function digestOf(page: Buffer): Buffer {
  return crypto.hash('sha256', page, 'buffer');
}

/** `digests` (holding `count` of them), or a copy twice its size when one more does not fit. */
function roomFor(digests: Buffer<ArrayBuffer>, count: number): Buffer<ArrayBuffer> {
  if ((count + 1) * DIGEST <= digests.length) return digests;
  const grown = Buffer.allocUnsafe(digests.length * 2);
  digests.copy(grown, 0, 0, count * DIGEST);
  return grown;
}

/**
 * Pages of a block: an unchanged image is checked a block at a time against the digests of its
 * segment's blocks (one digest call per 64 KiB runs ~1.4x faster than one per page, inside
 * the downtime); only a block that differs is looked at page by page.
 */
export const BLOCK_PAGES = 16;
const BLOCK_BYTES = BLOCK_PAGES * PAGE_SIZE;

export class PageIndex {
  private digests = Buffer.allocUnsafe(DIGEST * 4096);
  private count = 0;
  /**
   * Store pages by digest: an open-addressing table (linear probing on the first 4 digest bytes)
   * of page + 1, 0 = empty; ~8 bytes a page, where a Map took ~60 of the agent's peak RSS.
   */
  private slots = new Int32Array(1 << 16);
  /** Store page where each segment starts. */
  private readonly segmentStarts: number[] = [];
  /** Digests of the whole blocks of each segment (block j: its pages [16j, 16j + 16)). */
  private blocks = Buffer.allocUnsafe(DIGEST * 256);
  private blockCount = 0;
  /** The first block of each segment. */
  private readonly segmentBlocks: number[] = [];
  /** The segment's pages since its last whole block. */
  private readonly blockFill = Buffer.allocUnsafe(BLOCK_BYTES);
  private blockFilled = 0;
  /** Segments an image has taken: their pages are no longer in the store to copy from. */
  private readonly adopted = new Set<number>();
  /** Where the last reused page was: the dump writes pages in the order the pre-copy read them. */
  private next = 0;
  /** Pages reused one after the other, page by page, since a block at `next` last differed. */
  private inARow = BLOCK_PAGES;
  reused = 0;
  sent = 0;

  get pages(): number {
    return this.count;
  }

  /** The pages added from now on belong to a new segment (the next process); returns its number. */
  startSegment(): number {
    this.segmentStarts.push(this.count);
    this.segmentBlocks.push(this.blockCount);
    this.blockFilled = 0; // a last partial block has no digest
    return this.segmentStarts.length - 1;
  }

  /** Records the pages of `piece` (whole pages) as stored at the destination, in store order. */
  add(piece: Buffer): void {
    if (this.segmentStarts.length === 0) this.startSegment();
    for (let off = 0; off + PAGE_SIZE <= piece.length; off += PAGE_SIZE) {
      this.digests = roomFor(this.digests, this.count);
      const page = piece.subarray(off, off + PAGE_SIZE);
      const d = digestOf(page);
      d.copy(this.digests, this.count * DIGEST, 0, DIGEST);
      this.count++;
      this.insert(this.count - 1);
      page.copy(this.blockFill, this.blockFilled);
      this.blockFilled += PAGE_SIZE;
      if (this.blockFilled === BLOCK_BYTES) this.addBlock();
    }
  }

  /** Puts store page `page` (its digest recorded) into the table, growing it to stay half empty. */
  private insert(page: number): void {
    if (this.count * 2 > this.slots.length) {
      const old = this.slots;
      this.slots = new Int32Array(old.length * 2);
      for (const v of old) if (v !== 0) this.place(v - 1);
    }
    this.place(page);
  }

  /**
   * Up to COPIES pages of the same content are kept (processes forked from one another, or made
   * alike, hold the same pages: a copy in a segment that an image took is then not the only one).
   */
  private place(page: number): void {
    const mask = this.slots.length - 1;
    let same = 0;
    for (let i = this.digests.readUInt32LE(page * DIGEST) & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i];
      if (v === 0) {
        this.slots[i] = page + 1;
        return;
      }
      if (this.sameDigest(v - 1, page) && ++same >= COPIES) return;
    }
  }

  /** A store page with digest `d` that `usable` accepts, or -1. */
  private lookup(d: Buffer, usable: (page: number) => boolean): number {
    const mask = this.slots.length - 1;
    for (let i = d.readUInt32LE(0) & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i];
      if (v === 0) return -1;
      if (this.holds(v - 1, d) && usable(v - 1)) return v - 1;
    }
  }

  private sameDigest(a: number, b: number): boolean {
    return this.digests.compare(this.digests, a * DIGEST, (a + 1) * DIGEST, b * DIGEST, (b + 1) * DIGEST) === 0;
  }

  private addBlock(): void {
    this.blocks = roomFor(this.blocks, this.blockCount);
    digestOf(this.blockFill).copy(this.blocks, this.blockCount * DIGEST, 0, DIGEST);
    this.blockCount++;
    this.blockFilled = 0;
  }

  /** Whether pages [at, at + BLOCK_PAGES) of segment `k` (`at` a block boundary) are exactly `block`. */
  segmentHoldsBlock(k: number, at: number, block: Buffer): boolean {
    const b = this.segmentBlocks[k] + at / BLOCK_PAGES;
    const end = k + 1 < this.segmentBlocks.length ? this.segmentBlocks[k + 1] : this.blockCount;
    return b < end && this.blocks.compare(digestOf(block), 0, DIGEST, b * DIGEST, (b + 1) * DIGEST) === 0;
  }

  /** The segment holding store page `page`. */
  private segmentOf(page: number): number {
    let k = this.segmentStarts.length - 1;
    while (k > 0 && this.segmentStarts[k] > page) k--;
    return k;
  }

  private segmentEnd(k: number): number {
    return k + 1 < this.segmentStarts.length ? this.segmentStarts[k + 1] : this.count;
  }

  /**
   * The store page holding the page of digest `d`, or -1: in a segment not adopted, or in the
   * one `open` names, at a page of it not patched.
   */
  private find(d: Buffer, open?: OpenSegment): number {
    const usable = (page: number): boolean => {
      const k = this.segmentOf(page);
      if (!this.adopted.has(k)) return true;
      return open !== undefined && open.segment === k && !open.patched.has(page - this.segmentStarts[k]);
    };
    return this.next < this.count && this.holds(this.next, d) && usable(this.next) ? this.next : this.lookup(d, usable);
  }

  /** Where in the open segment (not at a patched page) the page of digest `d` is, or -1. */
  positionIn(open: OpenSegment, d: Buffer): number {
    const at = this.find(d, open);
    return at >= 0 && this.segmentOf(at) === open.segment ? at - this.segmentStarts[open.segment] : -1;
  }

  private holds(page: number, d: Buffer): boolean {
    return this.digests.compare(d, 0, DIGEST, page * DIGEST, (page + 1) * DIGEST) === 0;
  }

  /**
   * Splits a piece of a pages image into what must be sent and what the store holds, in order.
   * A trailing part shorter than a page is sent as it is.
   */
  split(piece: Buffer, open?: OpenSegment): Segment[] {
    const out: Segment[] = [];
    let literalFrom = -1;
    let runs: Run[] | undefined;
    const endLiteral = (at: number): void => {
      if (literalFrom >= 0) out.push({ literal: piece.subarray(literalFrom, at) });
      literalFrom = -1;
    };
    const reuse = (at: number, count: number): void => {
      if (!runs) out.push({ reuse: (runs = []) });
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === at) last[1] += count;
      else runs.push([at, count]);
      this.next = at + count;
      this.reused += count;
    };
    let off = 0;
    while (off + PAGE_SIZE <= piece.length) {
      if (off + BLOCK_BYTES <= piece.length && this.nextBlockIs(piece.subarray(off, off + BLOCK_BYTES), open)) {
        endLiteral(off);
        reuse(this.next, BLOCK_PAGES);
        off += BLOCK_BYTES;
        continue;
      }
      const at = this.count > 0 ? this.find(digestOf(piece.subarray(off, off + PAGE_SIZE)), open) : -1;
      off += PAGE_SIZE;
      if (at < 0) {
        if (literalFrom < 0) {
          literalFrom = off - PAGE_SIZE;
          runs = undefined;
        }
        this.sent++;
        this.inARow = 0;
        continue;
      }
      endLiteral(off - PAGE_SIZE);
      this.inARow = at === this.next ? this.inARow + 1 : 1;
      reuse(at, 1);
    }
    if (off < piece.length && literalFrom < 0) literalFrom = off;
    endLiteral(piece.length);
    return out;
  }

  /**
   * Whether `block` is the store's block at `next`: a whole block of its segment (usable, see
   * find), so that a run of unchanged pages costs one digest per block wherever it lies in the
   * image (a tail, or an image copied from the store). After a block that differed, only once a
   * block's worth of pages were found in a row again: memory changed all over costs no double
   * digests.
   */
  private nextBlockIs(block: Buffer, open?: OpenSegment): boolean {
    const p = this.next;
    if (this.inARow < BLOCK_PAGES || p >= this.count) return false;
    const k = this.segmentOf(p);
    const rel = p - this.segmentStarts[k];
    if (rel % BLOCK_PAGES !== 0) return false;
    const b = this.segmentBlocks[k] + rel / BLOCK_PAGES;
    const end = k + 1 < this.segmentBlocks.length ? this.segmentBlocks[k + 1] : this.blockCount;
    if (b >= end) return false;
    if (this.adopted.has(k)) {
      if (open?.segment !== k) return false;
      for (let i = rel; i < rel + BLOCK_PAGES; i++) if (open.patched.has(i)) return false;
    }
    if (this.blocks.compare(digestOf(block), 0, DIGEST, b * DIGEST, (b + 1) * DIGEST) === 0) return true;
    this.inARow = 0;
    return false;
  }

  /** The plan of one pages image, fed its pieces in order. */
  image(): ImagePlan {
    return new ImagePlan(this);
  }

  /**
   * The segment, not taken by an image yet, that the first piece of an image (whole pages) lines
   * up with best: the most pages with the same content at the same position, at least a quarter
   * of those it has and two (one page alike, a page of zeros say, says nothing); -1 if none.
   * Processes with the same pages tie: the first segment wins, the next image gets the next.
   */
  alignedSegment(piece: Buffer): number {
    const digests: Buffer[] = [];
    for (let off = 0; off + PAGE_SIZE <= piece.length; off += PAGE_SIZE) digests.push(digestOf(piece.subarray(off, off + PAGE_SIZE)));
    let best = -1;
    let bestAlike = 0;
    for (let k = 0; k < this.segmentStarts.length; k++) {
      if (this.adopted.has(k)) continue;
      const pages = Math.min(digests.length, this.segmentEnd(k) - this.segmentStarts[k]);
      let alike = 0;
      for (let i = 0; i < pages; i++) if (this.holds(this.segmentStarts[k] + i, digests[i])) alike++;
      if (alike >= 2 && alike * 4 >= pages && alike > bestAlike) {
        best = k;
        bestAlike = alike;
      }
    }
    return best;
  }

  adopt(k: number): void {
    this.adopted.add(k);
  }

  /** Whether page `at` of segment `k` has digest `d`. */
  segmentHolds(k: number, at: number, d: Buffer): boolean {
    const p = this.segmentStarts[k] + at;
    return p < this.segmentEnd(k) && this.holds(p, d);
  }
}

/** An adopted segment, and its pages that were patched (the rest is still the pre-copy's). */
export interface OpenSegment {
  segment: number;
  patched: Set<number>;
}

/**
 * One pages image as CRIU writes it: decided at its first piece (adopt the segment it lines up
 * with best, else copy from the store), then turned into ops piece by piece.
 */
export class ImagePlan {
  private mode: 'open' | 'adopted' | 'tail' | 'copy' = 'open';
  private segment = -1;
  private readonly patched = new Set<number>();
  /** Bytes of the image seen so far. */
  private bytes = 0;

  constructor(private readonly index: PageIndex) {}

  ops(piece: Buffer): ImageOp[] {
    const out: ImageOp[] = [];
    if (this.mode === 'open') this.decide(piece, out);
    let rest = piece;
    if (this.mode === 'adopted') rest = piece.subarray(this.patches(piece, out));
    if (rest.length > 0) out.push(...this.index.split(rest, this.mode === 'tail' ? { segment: this.segment, patched: this.patched } : undefined));
    this.bytes += piece.length;
    return out;
  }

  /** The ops after the last piece. */
  end(): ImageOp[] {
    return this.mode === 'adopted' || this.mode === 'tail' ? [{ size: this.bytes }] : [];
  }

  private decide(piece: Buffer, out: ImageOp[]): void {
    const k = this.index.alignedSegment(piece);
    if (k < 0) {
      this.mode = 'copy';
      return;
    }
    this.index.adopt(k);
    this.segment = k;
    this.mode = 'adopted';
    out.push({ adopt: k });
  }

  /**
   * The pages of an adopted image that differ from its segment, as patches at their offsets; up
   * to a page that is in the segment at another place: there (or where the pages that differ
   * before it began: new pages in front of moved ones) the tail starts. Returns where in `piece`
   * it stopped. A patch overwrites its segment's page, so a run of differing pages is only
   * written once the next page shows that they were changed, not moved.
   */
  private patches(piece: Buffer, out: ImageOp[]): number {
    let from = -1; // the run of differing pages, undecided
    const endPatch = (to: number): void => {
      if (from < 0) return;
      out.push({ patch: piece.subarray(from, to), at: this.bytes + from });
      for (let off = from; off < to; off += PAGE_SIZE) this.patched.add((this.bytes + off) / PAGE_SIZE);
      this.index.sent += Math.ceil((to - from) / PAGE_SIZE);
      from = -1;
    };
    let off = 0;
    while (off + PAGE_SIZE <= piece.length) {
      const at = (this.bytes + off) / PAGE_SIZE;
      if (at % BLOCK_PAGES === 0 && off + BLOCK_BYTES <= piece.length && this.index.segmentHoldsBlock(this.segment, at, piece.subarray(off, off + BLOCK_BYTES))) {
        endPatch(off);
        this.index.reused += BLOCK_PAGES;
        off += BLOCK_BYTES;
        continue;
      }
      // Page by page up to the next block boundary.
      const blockEnd = Math.min(piece.length - (piece.length % PAGE_SIZE), off + (BLOCK_PAGES - (at % BLOCK_PAGES)) * PAGE_SIZE);
      for (; off < blockEnd; off += PAGE_SIZE) {
        const d = digestOf(piece.subarray(off, off + PAGE_SIZE)); // once: a page that differs is looked up too
        if (this.index.segmentHolds(this.segment, (this.bytes + off) / PAGE_SIZE, d)) {
          endPatch(off);
          this.index.reused++;
        } else if (this.index.positionIn({ segment: this.segment, patched: this.patched }, d) >= 0) {
          const tailFrom = from >= 0 ? from : off;
          this.mode = 'tail';
          out.push({ tail: this.bytes + tailFrom });
          return tailFrom;
        } else if (from < 0) {
          from = off;
        }
      }
    }
    if (off < piece.length && from < 0) from = off;
    endPatch(piece.length); // undecided at the end of the piece: taken as changed
    return piece.length;
  }
}
