import fs from 'node:fs';
import path from 'node:path';
import type * as tar from 'tar-stream';
import { readTreeXattrs, type XattrSet } from './xattrs';
import {
  MAX_USTAR_ID,
  OPAQUE_PAX_KEY,
  OPAQUE_XATTR,
  OVERLAY_XATTR_PREFIX,
  XATTR_PAX_PREFIX,
  xattrToPax,
  type EntryHeader,
} from './tar-format';

export interface PackTreeOptions {
  /** true: root is an overlay upper dir (whiteouts, opaque dirs); false: a plain directory. */
  overlay: boolean;
  /** Relative paths (no leading slash) skipped together with their subtree. */
  exclude?: string[];
  /**
   * The tree's xattrs (readTreeXattrs), if already read or being read; 'none' when the tree's
   * xattrs do not matter (CRIU's images). Default: read them now.
   */
  xattrs?: Promise<Map<string, XattrSet>> | 'none';
}

export interface PackStats {
  entries: number;
  fileBytes: number;
}

/**
 * Streams the tree under `root` into `pack` as tar entries named `prefix` + relative path
 * (the root itself is `prefix` + '.'). Depth-first, parents before children, names sorted.
 * Does not finalize the pack: callers may put several trees into one stream.
 */
export async function packTree(pack: tar.Pack, root: string, prefix: string, opts: PackTreeOptions): Promise<PackStats> {
  if (prefix !== '' && !prefix.endsWith('/')) throw new Error(`tar prefix must be empty or end with "/": ${prefix}`);
  const absRoot = path.resolve(root);
  const rootStat = await fs.promises.lstat(absRoot);
  if (!rootStat.isDirectory()) throw new Error(`not a directory: ${absRoot}`);

  const xattrs = opts.xattrs === 'none' ? new Map<string, XattrSet>() : await (opts.xattrs ?? readTreeXattrs(absRoot));
  const packer = new TreePacker(pack, absRoot, prefix, opts, xattrs);
  await packer.packPath('.');
  return packer.stats;
}

function normalizeExclude(entry: string): string {
  const trimmed = entry.replace(/\/+$/, '');
  const normalized = path.posix.normalize(trimmed);
  if (trimmed === '' || entry.startsWith('/') || normalized !== trimmed || normalized.split('/').includes('..')) {
    throw new Error(`exclude paths must be relative and normalized: ${JSON.stringify(entry)}`);
  }
  return normalized;
}

/** Rejects names that would not survive the trip: tar-stream names are UTF-8 strings. */
function utf8Name(raw: Buffer, where: string): string {
  const name = raw.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(raw)) {
    throw new Error(`file names that are not valid UTF-8 are not supported: ${path.join(where, name)}`);
  }
  return name;
}

/** The parts of tar-stream's (streamx) entry sink we use; its typings demand an argument to end(). */
/** Read size for file contents. */
const READ_CHUNK = 1024 * 1024;
/** Files up to this size are read in one synchronous call (most CRIU images, most config files). */
const SMALL_FILE = 256 * 1024;

interface EntrySink {
  write(chunk: Buffer): boolean;
  end(data?: unknown): unknown;
  destroy(err?: Error | null): void;
  once(event: 'drain', fn: () => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
}

class TreePacker {
  readonly stats: PackStats = { entries: 0, fileBytes: 0 };
  private readonly exclude: Set<string>;
  /** dev:ino of multiply-linked regular files → tar name of the first path seen. */
  private readonly firstLinks = new Map<string, string>();

  constructor(
    private readonly pack: tar.Pack,
    private readonly root: string,
    private readonly prefix: string,
    private readonly opts: PackTreeOptions,
    private readonly xattrs: Map<string, XattrSet>,
  ) {
    this.exclude = new Set((opts.exclude ?? []).map(normalizeExclude));
  }

  async packPath(rel: string): Promise<void> {
    if (this.exclude.has(rel)) return;
    const abs = rel === '.' ? this.root : path.join(this.root, rel);
    // Synchronous metadata calls: the tree is frozen and local, and a threadpool round trip per
    // file costs more than the syscall (this runs while the container is down).
    const st = fs.lstatSync(abs, { bigint: true });
    const pax: Record<string, string> = {};
    const uid = Number(st.uid);
    const gid = Number(st.gid);
    if (uid > MAX_USTAR_ID) pax.uid = String(uid);
    if (gid > MAX_USTAR_ID) pax.gid = String(gid);
    const header: EntryHeader = {
      name: this.prefix + rel,
      // Full st_mode on purpose: tar-stream masks the type bits off, but would replace a
      // plain 0 (e.g. /etc/shadow mode 0000) with its default 0644.
      mode: Number(st.mode),
      uid,
      gid,
      mtime: new Date(Number(st.mtimeMs)),
    };

    if (st.isDirectory()) {
      Object.assign(pax, this.xattrPax(abs, rel, true));
      await this.emit({ ...header, type: 'directory' }, pax);
      const children = fs.readdirSync(abs, { encoding: 'buffer' });
      const names = children.map((raw) => utf8Name(raw, abs)).sort();
      for (const name of names) await this.packPath(rel === '.' ? name : `${rel}/${name}`);
    } else if (st.isFile()) {
      Object.assign(pax, this.xattrPax(abs, rel, false));
      if (st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.firstLinks.get(key);
        if (first !== undefined) {
          await this.emit({ ...header, type: 'link', linkname: first }, pax);
          return;
        }
        this.firstLinks.set(key, header.name);
      }
      await this.emitFile({ ...header, type: 'file', size: Number(st.size) }, pax, abs);
    } else if (st.isSymbolicLink()) {
      Object.assign(pax, this.xattrPax(abs, rel, false));
      const target = utf8Name(fs.readlinkSync(abs, { encoding: 'buffer' }), abs);
      await this.emit({ ...header, type: 'symlink', linkname: target }, pax);
    } else if (st.isFIFO()) {
      Object.assign(pax, this.xattrPax(abs, rel, false));
      await this.emit({ ...header, type: 'fifo' }, pax);
    } else if (st.isSocket()) {
      // Skipped: the restored process recreates the sockets it had bound.
    } else if (st.isCharacterDevice() && st.rdev === 0n && this.opts.overlay) {
      await this.emit({ ...header, type: 'character-device', devmajor: 0, devminor: 0 }, pax);
    } else {
      throw new Error(`device nodes in the container filesystem are not supported: ${abs}`);
    }
  }

  /** Pax records for the xattrs worth transferring, enforcing the overlay rules. */
  private xattrPax(abs: string, rel: string, isDir: boolean): Record<string, string> {
    const pax: Record<string, string> = {};
    const set = this.xattrs.get(abs);
    if (set === undefined) return pax;
    for (const [name, value] of Object.entries(set)) {
      if (name.startsWith(OVERLAY_XATTR_PREFIX)) {
        if (!this.opts.overlay) {
          throw new Error(`overlay xattr ${name} found in a plain directory tree is not supported: ${abs}`);
        }
        if (name === 'trusted.overlay.redirect' || name === 'trusted.overlay.metacopy') {
          // The upper dir alone would not describe the tree: content lives under another lower path.
          throw new Error(`overlay redirect_dir/metacopy entries are not supported: ${abs}`);
        }
        if (name === OPAQUE_XATTR && isDir && rel !== '.' && value.toString('latin1') === 'y') {
          pax[OPAQUE_PAX_KEY] = 'y';
        }
        continue; // origin, impure, nlink...: bookkeeping of this particular mount
      }
      // tar-stream splits a pax record at its first '=', so such a name could not round trip.
      if (name.includes('=')) throw new Error(`xattr names containing "=" are not supported: ${name} on ${abs}`);
      pax[XATTR_PAX_PREFIX + name] = xattrToPax(value);
    }
    return pax;
  }

  /** Adds an entry without body and waits until the pack has taken it. */
  private async emit(header: EntryHeader, pax: Record<string, string>): Promise<void> {
    if (Object.keys(pax).length > 0) header.pax = pax;
    await new Promise<void>((resolve, reject) => {
      this.pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
    this.stats.entries++;
  }

  /** Streams a regular file into the pack, honouring the pack's backpressure. */
  private async emitFile(header: EntryHeader, pax: Record<string, string>, abs: string): Promise<void> {
    if (Object.keys(pax).length > 0) header.pax = pax;
    const size = header.size ?? 0;
    if (size <= SMALL_FILE) return this.emitSmallFile(header, abs, size);
    // Opened before the header goes out, so a failure here leaves the tar stream intact.
    // 1 MiB reads: per-chunk overhead (tar, counters, zstd, chunker) dominates at 64 KiB.
    const source = (await fs.promises.open(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)).createReadStream({ highWaterMark: READ_CHUNK });

    let sink: EntrySink | undefined;
    const done = new Promise<void>((resolve, reject) => {
      sink = this.pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
    done.catch(() => undefined); // awaited below; avoids an unhandled rejection if we fail first
    if (sink === undefined) throw new Error('tar-stream did not return an entry stream');
    const entry = sink;
    // Errors reach us through the entry callback (done); without a listener, a pack torn down
    // mid-entry would throw from the stream's 'error' event and take the process with it.
    entry.on('error', () => undefined);
    const drained = (): Promise<void> => new Promise((resolve) => entry.once('drain', () => resolve()));

    let read = 0;
    try {
      for await (const chunk of source) {
        const buf = chunk as Buffer;
        read += buf.length;
        // The container is frozen while we pack: a size change means something is wrong.
        if (read > size) throw new Error(`file grew while being packed (lstat size ${size}): ${abs}`);
        if (!entry.write(buf)) await Promise.race([drained(), done]);
      }
      if (read !== size) throw new Error(`file shrank while being packed (lstat size ${size}, read ${read}): ${abs}`);
      entry.end();
    } catch (err) {
      // A half-written entry leaves the tar stream unusable: tear it down.
      entry.destroy(err instanceof Error ? err : new Error(String(err)));
      source.destroy();
      throw err;
    }
    await done;
    this.stats.entries++;
    this.stats.fileBytes += size;
  }

  /** A small file in one read and one tar entry. */
  private async emitSmallFile(header: EntryHeader, abs: string, size: number): Promise<void> {
    const fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    let data: Buffer;
    try {
      data = Buffer.allocUnsafe(size + 1); // one byte more: a file that grew shows
      let read = 0;
      while (read <= size) {
        const n = fs.readSync(fd, data, read, data.length - read, null);
        if (n === 0) break;
        read += n;
      }
      if (read !== size) throw new Error(`file changed size while being packed (lstat size ${size}, read ${read}): ${abs}`);
    } finally {
      fs.closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      this.pack.entry(header, data.subarray(0, size), (err) => (err ? reject(err) : resolve()));
    });
    this.stats.entries++;
    this.stats.fileBytes += size;
  }
}
