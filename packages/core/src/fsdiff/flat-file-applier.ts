import fs from 'node:fs';
import path from 'node:path';
import { trace } from '../util/trace';
import { UnsafeEntryError, toBuffer } from './entry-checks';
import { resumingOnError, type EntryBody, type EntryHeader, type TreeApplier } from './tar-format';

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;

/**
 * Applies a tar tree that must be one flat directory of regular files: CRIU's images. Their
 * owner, mode, times and xattrs do not matter (criu, as root, is their only reader), so each
 * file is created and written with synchronous calls: the few dozen small images of a
 * checkpoint land in ~1 ms instead of the ~8 thread-pool round trips per file that DiffApplier
 * spends on a container's rootfs, inside the downtime. Anything else is refused.
 *
 * A name that comes again continues the file made by its first entry: the source sends the
 * images CRIU is still writing in pieces (dump-follower.ts).
 */
export class FlatFileApplier implements TreeApplier {
  private bytes = 0;
  private readonly made = new Set<string>();
  /** Images whose rest is appended apart (startTail): from which byte, and where. */
  private readonly tails = new Map<string, { offset: number; file: string }>();

  constructor(
    private readonly dir: string,
    private readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  apply(header: EntryHeader, body: EntryBody): Promise<void> {
    return resumingOnError(body, () => this.applyEntry(header, body));
  }

  /** Nothing is deferred (same interface as DiffApplier). */
  async finish(): Promise<void> {}

  /**
   * Appends `size` bytes that `write` puts at the end of the file open at its fd (pages the
   * destination already holds); the same checks as for an entry's body.
   */
  appendWith(name: string, size: number, write: (fd: number) => void): void {
    const fd = this.open(name, size);
    try {
      const before = fs.fstatSync(fd).size;
      write(fd);
      const wrote = fs.fstatSync(fd).size - before;
      if (wrote !== size) throw new UnsafeEntryError(name, `${wrote} bytes appended where ${size} were announced`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Makes the file `from` (of `size` bytes, ours: the pre-copy's) the first content of `name`,
   * by renaming it: nothing is copied.
   */
  adopt(name: string, from: string, size: number): void {
    this.claim(name, size);
    if (this.made.has(name)) throw new UnsafeEntryError(name, 'adopted after it was written');
    fs.renameSync(from, path.join(this.dir, name));
    this.made.add(name);
  }

  /** Writes `body` at byte `offset` of `name` (made before): the pages of an adopted image that changed. */
  async writeAt(name: string, offset: number, body: EntryBody): Promise<void> {
    const fd = this.reopen(name, offset);
    try {
      let at = offset;
      for await (const chunk of body) {
        let buf = toBuffer(name, chunk);
        const grows = at + buf.length - fs.fstatSync(fd).size;
        if (grows > 0) this.claim(name, grows);
        while (buf.length > 0) {
          const n = fs.writeSync(fd, buf, 0, buf.length, at);
          buf = buf.subarray(n);
          at += n;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * From byte `offset` on, `name` (made before) is made by appends to a file apart (its tail):
   * what it holds from there may still be read meanwhile (runs copied from it), until setSize.
   */
  startTail(name: string, offset: number): void {
    fs.closeSync(this.reopen(name, offset));
    if (this.tails.has(name)) throw new UnsafeEntryError(name, 'has a tail already');
    const file = path.join(this.dir, `${name}.tail`);
    // The tail's bytes go where they will be in the image (a hole before them): see setSize.
    const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
    const fd = fs.openSync(file, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
    try {
      fs.ftruncateSync(fd, offset);
    } finally {
      fs.closeSync(fd);
    }
    this.tails.set(name, { offset, file });
  }

  /**
   * Sets the size of `name` (made before): an adopted image that ends before its segment did;
   * one with a tail is cut where the tail starts and gets it appended, and must then be `size`.
   */
  setSize(name: string, size: number): void {
    const fd = this.reopen(name, size);
    try {
      const tail = this.tails.get(name);
      if (tail) {
        this.tails.delete(name);
        this.joinTail(name, fd, tail, size);
        return;
      }
      const grows = size - fs.fstatSync(fd).size;
      if (grows > 0) this.claim(name, grows);
      fs.ftruncateSync(fd, size);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Joins the image's head (before the tail's offset) and its tail, copying the smaller part:
   * new pages in front of a process's pages make a tail of nearly all of the image (256 MiB
   * appended: 200 ms inside the downtime), pages lost near its end a short one.
   */
  private joinTail(name: string, fd: number, tail: { offset: number; file: string }, size: number): void {
    const total = fs.statSync(tail.file).size;
    const check = (got: number): void => {
      if (got !== size) throw new UnsafeEntryError(name, `${got} bytes with its tail, ${size} announced`);
    };
    if (tail.offset <= total - tail.offset) {
      check(total);
      const out = fs.openSync(tail.file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      try {
        const image = fs.openSync(path.join(this.dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        try {
          copyRange(image, out, 0, tail.offset, 0);
        } finally {
          fs.closeSync(image);
        }
      } finally {
        fs.closeSync(out);
      }
      fs.renameSync(tail.file, path.join(this.dir, name));
      trace(`dst: ${name}: head of ${tail.offset} bytes put in front of its tail`);
      return;
    }
    fs.ftruncateSync(fd, tail.offset);
    const src = fs.openSync(tail.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      copyRange(src, fd, tail.offset, total, tail.offset);
    } finally {
      fs.closeSync(src);
    }
    fs.rmSync(tail.file);
    trace(`dst: ${name}: tail of ${total - tail.offset} bytes appended`);
    check(fs.fstatSync(fd).size);
  }

  /** Opens `name`, which an entry made before, for a write at `offset`. */
  private reopen(name: string, offset: number): number {
    if (!PLAIN_NAME.test(name)) throw new UnsafeEntryError(name, 'not a plain file name');
    if (!this.made.has(name)) throw new UnsafeEntryError(name, 'written at an offset before it was made');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new UnsafeEntryError(name, `invalid offset ${String(offset)}`);
    return fs.openSync(path.join(this.dir, name), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
  }

  /** Counts `size` more bytes of `name` against the budget. */
  private claim(name: string, size: number | undefined): void {
    if (!PLAIN_NAME.test(name)) throw new UnsafeEntryError(name, 'not a plain file name');
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) throw new UnsafeEntryError(name, `invalid size ${String(size)}`);
    if (size > this.maxBytes - this.bytes) throw new UnsafeEntryError(name, `size ${size} exceeds the byte budget (limit ${this.maxBytes})`);
    this.bytes += size;
  }

  /** Opens `name` for `size` more bytes: created by its first entry, appended to by the next (or to its tail). */
  private open(name: string, size: number | undefined): number {
    this.claim(name, size);
    // O_EXCL|O_NOFOLLOW: only ever a file we have created ourselves.
    const { O_CREAT, O_EXCL, O_WRONLY, O_APPEND, O_NOFOLLOW } = fs.constants;
    const tail = this.tails.get(name);
    if (tail) return fs.openSync(tail.file, O_WRONLY | O_APPEND | O_NOFOLLOW);
    const flags = this.made.has(name) ? O_WRONLY | O_APPEND | O_NOFOLLOW : O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW;
    const fd = fs.openSync(path.join(this.dir, name), flags, 0o600);
    this.made.add(name);
    return fd;
  }

  private async applyEntry(header: EntryHeader, body: EntryBody): Promise<void> {
    const name = header.name;
    if (name === '.' && header.type === 'directory') {
      for await (const _ of body) void _; // the tree root: the directory exists
      return;
    }
    if (header.type !== 'file') throw new UnsafeEntryError(name, `a ${String(header.type)} entry where only regular files belong`);
    const size = header.size ?? 0;
    const fd = this.open(name, header.size);
    try {
      let written = 0;
      for await (const chunk of body) {
        let buf = toBuffer(name, chunk);
        written += buf.length;
        if (written > size) throw new UnsafeEntryError(name, 'body is longer than the header size');
        while (buf.length > 0) buf = buf.subarray(fs.writeSync(fd, buf));
      }
      if (written !== size) throw new UnsafeEntryError(name, `body is truncated (${written} of ${size} bytes)`);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Copies bytes [start, end) of `from` to `to` at `at`. */
function copyRange(from: number, to: number, start: number, end: number, at: number): void {
  const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, Math.max(end - start, 1)));
  for (let pos = start; pos < end; ) {
    const n = fs.readSync(from, buf, 0, Math.min(buf.length, end - pos), pos);
    if (n === 0) throw new Error(`short read at ${pos} of ${end}`);
    for (let off = 0; off < n; ) off += fs.writeSync(to, buf, off, n - off, at + pos - start + off);
    pos += n;
  }
}
