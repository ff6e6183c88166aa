// What the destination already holds of the container's memory: the pages sent in the pre-copy,
// by content. The kernel here has no soft-dirty tracking (CRIU's pre-dump needs it), so the
// pre-copy cannot know which pages are written after it; instead each page of the final dump
// is looked up by a digest of its content, and a page the destination already holds is sent as
// a reference to its place in the pre-copy store (reused), not as its bytes.
//
// The dump writes a process's pages in the order the pre-copy read them, so the page expected
// next is compared byte for byte with a local copy of the pre-copy (the shadow file, in the
// migration's scratch dir): ~4x less CPU than a digest, inside the downtime. Only a page that
// differs from the expected one is looked up by its digest.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { PAGE_SIZE } from './memory-reader';

/** Bytes of a page digest kept: SHA-256 cut to 128 bits (accidental collisions: ~2^-128 a pair). */
const DIGEST = 16;

/** Pages of the store referenced from one place in a pages image: [first store page, count]. */
export type Run = [number, number];

/** A piece of a pages image, split: bytes to send, or pages the destination copies from its store. */
export type Segment = { literal: Buffer } | { reuse: Run[] };

function digestOf(page: Buffer): Buffer {
  return crypto.hash('sha256', page, 'buffer');
}

/** Pages of the shadow file read at once for comparisons. */
const WINDOW_PAGES = 256;

export class PageIndex {
  private readonly shadow: number;
  private closed = false;
  /** Shadow pages [windowStart, windowStart + windowPages) are in `window`. */
  private readonly window = Buffer.allocUnsafe(WINDOW_PAGES * PAGE_SIZE);
  private windowStart = 0;
  private windowPages = 0;
  private digests = Buffer.allocUnsafe(DIGEST * 4096);
  private count = 0;
  /** First 4 digest bytes -> store page (the first page with them; a lookup checks the rest). */
  private readonly byPrefix = new Map<number, number>();
  /** Where the last reused page was: the dump writes pages in the order the pre-copy read them. */
  private next = 0;
  reused = 0;
  sent = 0;

  /** `shadowFile`: created here, holds a copy of the pages the destination stores. */
  constructor(shadowFile: string) {
    const { O_CREAT, O_EXCL, O_RDWR, O_NOFOLLOW } = fs.constants;
    this.shadow = fs.openSync(shadowFile, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, 0o600);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.shadow);
  }

  get pages(): number {
    return this.count;
  }

  /** Records the pages of `piece` (whole pages) as stored at the destination, in store order. */
  add(piece: Buffer): void {
    const whole = piece.length - (piece.length % PAGE_SIZE);
    for (let off = 0; off < whole; ) off += fs.writeSync(this.shadow, piece, off, whole - off, this.count * PAGE_SIZE + off);
    for (let off = 0; off + PAGE_SIZE <= piece.length; off += PAGE_SIZE) {
      if ((this.count + 1) * DIGEST > this.digests.length) {
        const grown = Buffer.allocUnsafe(this.digests.length * 2);
        this.digests.copy(grown, 0, 0, this.count * DIGEST);
        this.digests = grown;
      }
      const d = digestOf(piece.subarray(off, off + PAGE_SIZE));
      d.copy(this.digests, this.count * DIGEST, 0, DIGEST);
      const key = d.readInt32LE(0);
      if (!this.byPrefix.has(key)) this.byPrefix.set(key, this.count);
      this.count++;
    }
  }

  /** The store page holding exactly `page`, or -1: the one expected next, else by digest. */
  private find(page: Buffer): number {
    if (this.next < this.count && this.isExpected(page)) return this.next;
    const d = digestOf(page);
    const at = this.byPrefix.get(d.readInt32LE(0));
    return at !== undefined && this.holds(at, d) ? at : -1;
  }

  /** Whether `page` is byte for byte the store page expected next (read from the shadow). */
  private isExpected(page: Buffer): boolean {
    const at = this.next;
    if (at < this.windowStart || at >= this.windowStart + this.windowPages) {
      const pages = Math.min(WINDOW_PAGES, this.count - at);
      const len = pages * PAGE_SIZE;
      let got = 0;
      while (got < len) {
        const n = fs.readSync(this.shadow, this.window, got, len - got, at * PAGE_SIZE + got);
        if (n === 0) break;
        got += n;
      }
      this.windowStart = at;
      this.windowPages = Math.floor(got / PAGE_SIZE);
      if (at >= this.windowStart + this.windowPages) return false;
    }
    const off = (at - this.windowStart) * PAGE_SIZE;
    return page.equals(this.window.subarray(off, off + PAGE_SIZE));
  }

  private holds(page: number, d: Buffer): boolean {
    return this.digests.compare(d, 0, DIGEST, page * DIGEST, (page + 1) * DIGEST) === 0;
  }

  /**
   * Splits a piece of a pages image into what must be sent and what the store holds, in order.
   * A trailing part shorter than a page is sent as it is.
   */
  split(piece: Buffer): Segment[] {
    const out: Segment[] = [];
    let literalFrom = -1;
    let runs: Run[] | undefined;
    const endLiteral = (at: number): void => {
      if (literalFrom >= 0) out.push({ literal: piece.subarray(literalFrom, at) });
      literalFrom = -1;
    };
    let off = 0;
    for (; off + PAGE_SIZE <= piece.length; off += PAGE_SIZE) {
      const at = this.count > 0 ? this.find(piece.subarray(off, off + PAGE_SIZE)) : -1;
      if (at < 0) {
        if (literalFrom < 0) {
          literalFrom = off;
          runs = undefined;
        }
        this.sent++;
        continue;
      }
      endLiteral(off);
      if (!runs) out.push({ reuse: (runs = []) });
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === at) last[1]++;
      else runs.push([at, 1]);
      this.next = at + 1;
      this.reused++;
    }
    if (off < piece.length && literalFrom < 0) literalFrom = off;
    endLiteral(piece.length);
    return out;
  }
}

/** Runs as a reuse entry's body: little-endian u32 pairs. */
export function encodeRuns(runs: Run[]): Buffer {
  const buf = Buffer.allocUnsafe(runs.length * 8);
  runs.forEach(([start, count], i) => {
    buf.writeUInt32LE(start, i * 8);
    buf.writeUInt32LE(count, i * 8 + 4);
  });
  return buf;
}

/** The inverse of encodeRuns; refuses a body that is not whole pairs. */
export function decodeRuns(buf: Buffer): Run[] {
  if (buf.length % 8 !== 0) throw new Error(`a reuse entry of ${buf.length} bytes is not whole (start, count) pairs`);
  const runs: Run[] = [];
  for (let i = 0; i < buf.length; i += 8) runs.push([buf.readUInt32LE(i), buf.readUInt32LE(i + 4)]);
  return runs;
}
