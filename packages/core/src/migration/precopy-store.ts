// The destination's copy of the pre-copy: the pages the source read from the running container,
// in the order they came, in one file of the migration's work dir. Pages of the final dump that
// the source found unchanged arrive as runs of this file's pages (page-index.ts) and are copied
// from here into CRIU's pages images.
import fs from 'node:fs';
import { PAGE_SIZE } from './memory-reader';
import type { Run } from './page-index';
import { MigrationError } from './migration-error';

/** Pages copied per read: the pool's piece size. */
const COPY_PAGES = 256;

export class PrecopyStore {
  private readonly fd: number;
  private bytes = 0;
  private closed = false;
  private readonly buf = Buffer.allocUnsafe(COPY_PAGES * PAGE_SIZE);

  constructor(
    readonly file: string,
    private readonly maxBytes: number,
  ) {
    this.fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR | fs.constants.O_NOFOLLOW, 0o600);
  }

  get pages(): number {
    return Math.floor(this.bytes / PAGE_SIZE);
  }

  append(data: Buffer): void {
    if (data.length > this.maxBytes - this.bytes) {
      throw new MigrationError('protocol', `the pre-copy exceeds the ${this.maxBytes} bytes announced`);
    }
    for (let off = 0; off < data.length; ) off += fs.writeSync(this.fd, data, off, data.length - off, this.bytes + off);
    this.bytes += data.length;
  }

  /** Checks that what arrived is whole pages (the store is complete). */
  seal(): void {
    if (this.bytes % PAGE_SIZE !== 0) throw new MigrationError('protocol', `the pre-copy holds ${this.bytes} bytes, not whole pages`);
  }

  /** Refuses runs outside the store, before anything is written (a hostile or broken peer). */
  check(runs: Run[]): number {
    let pages = 0;
    for (const [start, count] of runs) {
      if (count === 0 || start + count > this.pages) {
        throw new MigrationError('protocol', `a reuse run [${start}, +${count}] lies outside the ${this.pages} pre-copied pages`);
      }
      pages += count;
    }
    return pages;
  }

  /** Appends the pages of `runs` (checked) to the file open at `out`. */
  copyRuns(runs: Run[], out: number): void {
    for (const [start, count] of runs) {
      for (let done = 0; done < count; ) {
        const n = Math.min(COPY_PAGES, count - done);
        const len = n * PAGE_SIZE;
        const chunk = this.buf.subarray(0, len);
        for (let got = 0; got < len; ) {
          const r = fs.readSync(this.fd, chunk, got, len - got, (start + done) * PAGE_SIZE + got);
          if (r === 0) throw new Error('the pre-copy store is shorter than its page count');
          got += r;
        }
        for (let off = 0; off < len; ) off += fs.writeSync(out, chunk, off, len - off);
        done += n;
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
