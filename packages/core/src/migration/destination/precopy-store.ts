// The destination's copy of the pre-copy: the pages the source read from the running container,
// one file per segment (process) in the migration's scratch dir, in the order they came. A
// pages image of the final dump that lines up with a segment takes that segment's file (adopts
// it: nothing is copied); pages of other images that the source found unchanged arrive as runs
// of store pages (numbered across all segments, page-index.ts) and are copied from here.
import fs from 'node:fs';
import path from 'node:path';
import { PAGE_SIZE, type Run } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';

/** Pages copied per read: the pool's piece size. */
const COPY_PAGES = 256;

interface StoreSegment {
  file: string;
  fd: number;
  /** Store page of its first page. */
  start: number;
  bytes: number;
  /** Adopted by an image (once only). */
  taken: boolean;
}

export class PrecopyStore {
  private readonly segments: StoreSegment[] = [];
  private bytes = 0;
  private readonly buf = Buffer.allocUnsafe(COPY_PAGES * PAGE_SIZE);

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  get pages(): number {
    return Math.floor(this.bytes / PAGE_SIZE);
  }

  /** Appends pages of `segment`: the current one, or the next (the source goes through them in order). */
  append(segment: number, data: Buffer): void {
    if (data.length > this.maxBytes - this.bytes) {
      throw new MigrationError('protocol', `the pre-copy exceeds the ${this.maxBytes} bytes announced`);
    }
    const current = this.segments.length - 1;
    if (segment === current + 1) {
      this.sealSegment();
      const file = path.join(this.dir, `segment-${segment}.pages`);
      const { O_CREAT, O_EXCL, O_RDWR, O_NOFOLLOW } = fs.constants;
      this.segments.push({ file, fd: fs.openSync(file, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, 0o600), start: this.pages, bytes: 0, taken: false });
    } else if (segment !== current) {
      throw new MigrationError('protocol', `pre-copy segment ${segment} after segment ${current}`);
    }
    const s = this.segments[segment];
    for (let off = 0; off < data.length; ) off += fs.writeSync(s.fd, data, off, data.length - off, s.bytes + off);
    s.bytes += data.length;
    this.bytes += data.length;
  }

  /** Checks that what arrived is whole pages (the store is complete). */
  seal(): void {
    this.sealSegment();
  }

  private sealSegment(): void {
    const last = this.segments[this.segments.length - 1];
    if (last && last.bytes % PAGE_SIZE !== 0) {
      throw new MigrationError('protocol', `pre-copy segment ${this.segments.length - 1} holds ${last.bytes} bytes, not whole pages`);
    }
  }

  /**
   * The segment holding store page `page`. An adopted one still serves (the tail of its image
   * copies its pages from it until the image gets its size; what the source reads there is up to it).
   */
  private segmentAt(page: number): StoreSegment | undefined {
    let k = this.segments.length - 1;
    while (k >= 0 && this.segments[k].start > page) k--;
    const s = this.segments[k];
    return s && page < s.start + s.bytes / PAGE_SIZE ? s : undefined;
  }

  /** Refuses runs outside the store, before anything is written. */
  check(runs: Run[]): number {
    let pages = 0;
    for (const [start, count] of runs) {
      const outside = (): MigrationError => new MigrationError('protocol', `a reuse run [${start}, +${count}] lies outside the ${this.pages} pre-copied pages`);
      if (count === 0) throw outside();
      for (let p = start; p < start + count; ) {
        const s = this.segmentAt(p);
        if (!s) throw outside();
        p = s.start + s.bytes / PAGE_SIZE; // the run may go on in the next segment
      }
      pages += count;
    }
    return pages;
  }

  /** Appends the pages of `runs` (checked) to the file open at `out`. */
  copyRuns(runs: Run[], out: number): void {
    for (const [start, count] of runs) {
      for (let p = start; p < start + count; ) {
        const s = this.segmentAt(p);
        if (!s) throw new Error(`store page ${p} is gone`);
        const n = Math.min(COPY_PAGES, start + count - p, s.start + s.bytes / PAGE_SIZE - p);
        const len = n * PAGE_SIZE;
        const chunk = this.buf.subarray(0, len);
        for (let got = 0; got < len; ) {
          const r = fs.readSync(s.fd, chunk, got, len - got, (p - s.start) * PAGE_SIZE + got);
          if (r === 0) throw new Error('a pre-copy segment is shorter than its page count');
          got += r;
        }
        for (let off = 0; off < len; ) off += fs.writeSync(out, chunk, off, len - off);
        p += n;
      }
    }
  }

  /** Hands segment `k`'s file over to a pages image (no copy), once; runs may still be copied from it. */
  take(k: number): { file: string; bytes: number } {
    const s = this.segments[k];
    if (!Number.isSafeInteger(k) || !s || s.taken) throw new MigrationError('protocol', `pre-copy segment ${k} is not there to adopt`);
    s.taken = true; // its fd stays open for reads: the file is the image's now
    return { file: s.file, bytes: s.bytes };
  }

  close(): void {
    for (const s of this.segments.splice(0)) fs.closeSync(s.fd);
  }
}
