import fs from 'node:fs';
import path from 'node:path';
import { runCommand } from '../util/exec';
import { checkId, checkRelPath, readPax, toBuffer, UnsafeEntryError } from './entry-checks';
import { removeXattr, setXattr } from './xattrs';
import {
  DELTA_PAX,
  OPAQUE_PAX_KEY,
  OVERLAY_XATTR_PREFIX,
  XATTR_PAX_PREFIX,
  resumingOnError,
  xattrFromPax,
  type EntryBody,
  type EntryHeader,
  type TreeApplier,
} from './tar-format';

export interface DiffApplierOptions {
  /** true: root is the MERGED dir of an overlay mount and whiteouts/opaque dirs are honoured. */
  overlay: boolean;
  /** Total body bytes accepted (default 64 GiB). */
  maxBytes?: number;
  /** Total entries accepted (default 5,000,000). */
  maxEntries?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 ** 3;
/** File data is written in batches of about this size. */
const WRITE_BATCH = 1024 * 1024;
/** Files up to this size are written with direct system calls (applySmallFile). */
const SMALL_FILE = 64 * 1024;
/** O_EXCL|O_NOFOLLOW: we only ever write into a file we have just created ourselves. */
const CREATE_FLAGS = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW;
const DEFAULT_MAX_ENTRIES = 5_000_000;
/** Bound on the verified-directory cache; it is only an optimisation. */
const SAFE_DIR_CACHE_LIMIT = 100_000;
const XATTR_NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];

/**
 * Takes the entries of one tree out of a multiplexed stream: returns null when
 * `header.name` is not under `prefix`, else a copy with the prefix removed from the
 * name and, for hard links, from the link target (which must be under the same prefix).
 * The tree root itself ('prefix' or 'prefix.') becomes '.'.
 */
export function stripPrefix<H extends EntryHeader>(header: H, prefix: string): H | null {
  if (!header.name.startsWith(prefix)) return null;
  const name = header.name.slice(prefix.length) || '.';
  if (header.type !== 'link') return { ...header, name };
  const linkname = header.linkname ?? '';
  if (!linkname.startsWith(prefix)) {
    throw new UnsafeEntryError(header.name, `hard link target ${JSON.stringify(linkname)} is outside ${prefix}`);
  }
  return { ...header, name, linkname: linkname.slice(prefix.length) || '.' };
}

type Delta = { kind: 'delete' } | { kind: 'start' } | { kind: 'offset'; n: number } | { kind: 'size'; n: number };

interface EntryMeta {
  uid: number;
  gid: number;
  mode: number;
  mtime: Date;
  xattrs: Map<string, Buffer>;
  opaque: boolean;
}

type Stat = fs.Stats;

async function lstatOrNull(file: string): Promise<Stat | null> {
  try {
    return await fs.promises.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function depth(rel: string): number {
  return rel === '.' ? 0 : rel.split('/').length;
}

/**
 * Applies tar entries of a filesystem diff under `root`, never following a symlink and
 * never leaving `root`. Call apply() for each entry in stream order, then finish().
 */
export class DiffApplier implements TreeApplier {
  private readonly root: string;
  private readonly overlay: boolean;
  private readonly maxBytes: number;
  private readonly maxEntries: number;
  private bytes = 0;
  /** Of `bytes`: file data (bodies of files and of blocks written at an offset). */
  private fileBytes = 0;
  private entries = 0;
  private rootChecked = false;
  /** Relative paths verified to be real directories; cleared whenever we remove a directory. */
  private readonly safeDirs = new Set<string>();
  /** Directory modes and mtimes, applied by finish() once nothing is written inside anymore. */
  private readonly deferredDirs = new Map<string, { mode: number; mtime: Date }>();
  /**
   * Regular files this applier made (one applier takes every round of a tree): the only ones
   * that entries writing at an offset or giving a final size may touch.
   */
  private readonly made = new Set<string>();
  /** Per inode, the xattr names this applier set there (so a later round can remove them). */
  private readonly xattrsSet = new Map<number, Set<string>>();
  /** Opaque directories already made so: a later round's entry for one must not empty it again. */
  private readonly opaqueMade = new Set<string>();

  constructor(root: string, opts: DiffApplierOptions) {
    this.root = path.resolve(root);
    this.overlay = opts.overlay;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  get stats(): { entries: number; bytes: number; fileBytes: number } {
    return { entries: this.entries, bytes: this.bytes, fileBytes: this.fileBytes };
  }

  /** Applies one entry; `header.name`/`linkname` already have the stream prefix stripped. */
  apply(header: EntryHeader, body: EntryBody): Promise<void> {
    return resumingOnError(body, () => this.applyEntry(header, body));
  }

  /** Sets the deferred directory modes and mtimes, deepest first. */
  async finish(): Promise<void> {
    const dirs = [...this.deferredDirs].sort((a, b) => depth(b[0]) - depth(a[0]));
    this.deferredDirs.clear();
    this.safeDirs.clear();
    for (const [rel, { mode, mtime }] of dirs) {
      // A later entry may have replaced the directory (or an ancestor): never chmod through a symlink.
      if (!(await this.isRealDirectory(rel))) continue;
      const abs = this.abs(rel);
      await fs.promises.chmod(abs, mode);
      await fs.promises.lutimes(abs, mtime, mtime);
    }
  }

  private async applyEntry(header: EntryHeader, body: EntryBody): Promise<void> {
    const entryName = typeof header.name === 'string' ? header.name : '';
    this.entries++;
    if (this.entries > this.maxEntries) throw new UnsafeEntryError(entryName, `more than ${this.maxEntries} entries`);
    await this.checkRoot();

    const type = header.type; // null for typeflags tar-stream does not know: refused below
    const rel = checkRelPath(entryName, header.name, 'name', type === 'directory');
    if (rel === '.' && type !== 'directory') throw new UnsafeEntryError(entryName, 'the tree root must be a directory');
    const delta = this.deltaOf(entryName, header, rel);
    if (delta) return this.applyDelta(entryName, rel, header, body, delta);
    const meta = this.readMeta(entryName, header, type);

    switch (type) {
      case 'directory':
        await this.drain(entryName, body);
        return this.applyDirectory(entryName, rel, meta);
      case 'file':
        return this.applyFile(entryName, rel, meta, header.size, body);
      case 'symlink':
        await this.drain(entryName, body);
        return this.applySymlink(entryName, rel, meta, header.linkname);
      case 'link': {
        const target = checkRelPath(entryName, header.linkname, 'hard link target', false);
        await this.drain(entryName, body);
        return this.applyHardLink(entryName, rel, target);
      }
      case 'fifo':
        await this.drain(entryName, body);
        return this.applyFifo(entryName, rel, meta);
      case 'character-device':
        if (!this.overlay) throw new UnsafeEntryError(entryName, 'device nodes and whiteouts are refused in a plain tree');
        if (header.devmajor !== 0 || header.devminor !== 0) {
          throw new UnsafeEntryError(entryName, `device node ${header.devmajor}:${header.devminor} refused`);
        }
        await this.drain(entryName, body);
        return this.applyWhiteout(entryName, rel);
      case 'block-device':
        throw new UnsafeEntryError(entryName, 'block device nodes are refused');
      default:
        throw new UnsafeEntryError(entryName, `entry type ${String(type)} is not supported`);
    }
  }

  private async applyDirectory(entryName: string, rel: string, meta: EntryMeta): Promise<void> {
    const abs = this.abs(rel);
    let kept = true;
    if (rel === '.') {
      if (meta.opaque) throw new UnsafeEntryError(entryName, 'the tree root cannot be opaque');
    } else {
      await this.checkAncestors(entryName, rel);
      const existing = await lstatOrNull(abs);
      // Opaque: the lower content must disappear; through the overlay mount, a directory
      // created where one was removed is made opaque by the kernel.
      const emptied = meta.opaque && !this.opaqueMade.has(rel); // once: later rounds add to it
      if (existing !== null && (emptied || !existing.isDirectory())) await this.remove(rel, existing);
      kept = existing !== null && !emptied && existing.isDirectory();
      if (!kept) await fs.promises.mkdir(abs, { mode: 0o700 });
      if (meta.opaque) this.opaqueMade.add(rel);
      this.rememberSafeDir(rel);
    }
    await fs.promises.lchown(abs, meta.uid, meta.gid);
    await this.setXattrs(abs, meta.xattrs, kept);
    this.deferredDirs.set(rel, { mode: meta.mode, mtime: meta.mtime });
  }

  private async applyFile(
    entryName: string,
    rel: string,
    meta: EntryMeta,
    size: number | undefined,
    body: EntryBody,
  ): Promise<void> {
    if (size === undefined || !Number.isSafeInteger(size) || size < 0) {
      throw new UnsafeEntryError(entryName, `invalid size ${String(size)}`);
    }
    if (size > this.maxBytes - this.bytes) {
      throw new UnsafeEntryError(entryName, `size ${size} exceeds the remaining byte budget (limit ${this.maxBytes})`);
    }
    const abs = await this.prepareTarget(entryName, rel);
    if (size <= SMALL_FILE) return this.applySmallFile(entryName, rel, abs, meta, size, body);
    const fh = await fs.promises.open(abs, CREATE_FLAGS, 0o600);
    try {
      // Batched writes: one thread-pool round trip per ~1 MiB, not per stream chunk.
      let batch: Buffer[] = [];
      let batched = 0;
      const flush = async (): Promise<void> => {
        let buf = batch.length === 1 ? batch[0] : Buffer.concat(batch, batched);
        batch = [];
        batched = 0;
        while (buf.length > 0) buf = buf.subarray((await fh.write(buf)).bytesWritten);
      };
      for await (const buf of this.sizedBody(entryName, size, body)) {
        batch.push(buf);
        batched += buf.length;
        if (batched >= WRITE_BATCH) await flush();
      }
      if (batched > 0) await flush();
      this.fileBytes += size;
      await fh.chown(meta.uid, meta.gid);
      await fh.chmod(meta.mode); // after chown, which clears setuid/setgid
      await this.setXattrs(abs, meta.xattrs); // after chown too: it drops security.capability
      await fh.utimes(meta.mtime, meta.mtime);
    } finally {
      await fh.close();
    }
    this.made.add(rel);
  }

  /**
   * A small file, most of a tree: its body gathered, then written with direct system calls. The
   * thread pool's round trip per call (open, write, chown, chmod, utimes, close: six) cost more
   * than the calls themselves; 20k small files took ~17 s that way on this VM.
   */
  private async applySmallFile(entryName: string, rel: string, abs: string, meta: EntryMeta, size: number, body: EntryBody): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const buf of this.sizedBody(entryName, size, body)) chunks.push(buf);
    const fd = fs.openSync(abs, CREATE_FLAGS, 0o600);
    try {
      for (const c of chunks) for (let off = 0; off < c.length; ) off += fs.writeSync(fd, c, off);
      fs.fchownSync(fd, meta.uid, meta.gid);
      fs.fchmodSync(fd, meta.mode); // after chown, which clears setuid/setgid
      if (meta.xattrs.size > 0) await this.setXattrs(abs, meta.xattrs); // after chown too: it drops security.capability
      fs.futimesSync(fd, meta.mtime, meta.mtime);
    } finally {
      fs.closeSync(fd);
    }
    this.fileBytes += size;
    this.made.add(rel);
  }

  /**
   * A file entry's body, counted against the budget as it comes; refused when it runs past the
   * header's size or ends short of it (after the last chunk: nothing is written past the check).
   */
  private async *sizedBody(entryName: string, size: number, body: EntryBody): AsyncGenerator<Buffer> {
    let got = 0;
    for await (const chunk of body) {
      const buf = toBuffer(entryName, chunk);
      got += buf.length;
      this.countBytes(entryName, buf.length);
      if (got > size) throw new UnsafeEntryError(entryName, 'body is longer than the header size');
      yield buf;
    }
    if (got !== size) throw new UnsafeEntryError(entryName, `body is truncated (${got} of ${size} bytes)`);
  }

  private async applySymlink(entryName: string, rel: string, meta: EntryMeta, target: unknown): Promise<void> {
    // The target is data: it may point anywhere because we never follow it.
    if (typeof target !== 'string' || target === '' || target.includes('\0')) {
      throw new UnsafeEntryError(entryName, 'invalid symlink target');
    }
    const abs = await this.prepareTarget(entryName, rel);
    await fs.promises.symlink(target, abs);
    await fs.promises.lchown(abs, meta.uid, meta.gid);
    await this.setXattrs(abs, meta.xattrs);
    await fs.promises.lutimes(abs, meta.mtime, meta.mtime);
  }

  private async applyHardLink(entryName: string, rel: string, target: string): Promise<void> {
    if (target === '.' || target === rel) throw new UnsafeEntryError(entryName, 'invalid hard link target');
    const abs = await this.prepareTarget(entryName, rel);
    // Checked after prepareTarget, which may have removed directories on the way.
    await this.checkAncestors(entryName, target);
    const targetStat = await lstatOrNull(this.abs(target));
    if (targetStat === null || !targetStat.isFile()) {
      throw new UnsafeEntryError(entryName, `hard link target ${JSON.stringify(target)} is not an existing regular file`);
    }
    await fs.promises.link(this.abs(target), abs);
    if (this.made.has(target)) this.made.add(rel);
  }

  private async applyFifo(entryName: string, rel: string, meta: EntryMeta): Promise<void> {
    const abs = await this.prepareTarget(entryName, rel);
    await runCommand('mkfifo', ['-m', '600', abs]);
    await fs.promises.lchown(abs, meta.uid, meta.gid);
    await fs.promises.chmod(abs, meta.mode);
    await this.setXattrs(abs, meta.xattrs);
    await fs.promises.lutimes(abs, meta.mtime, meta.mtime);
  }

  /** Removing the path through the overlay mount makes the kernel record the whiteout. */
  private async applyWhiteout(entryName: string, rel: string): Promise<void> {
    await this.checkAncestors(entryName, rel);
    const abs = this.abs(rel);
    const existing = await lstatOrNull(abs);
    if (existing !== null) await this.remove(rel, existing);
  }

  /** Validates the way to `rel` and clears whatever is there, for a new non-directory. */
  private async prepareTarget(entryName: string, rel: string): Promise<string> {
    await this.checkAncestors(entryName, rel);
    const abs = this.abs(rel);
    const existing = await lstatOrNull(abs);
    // Unlink rather than truncate: the old file may be a hard link shared with another path.
    if (existing !== null) await this.remove(rel, existing);
    return abs;
  }

  private async remove(rel: string, existing: Stat): Promise<void> {
    const abs = this.abs(rel);
    if (existing.isDirectory()) {
      this.safeDirs.clear();
      await fs.promises.rm(abs, { recursive: true, force: true }); // removes symlinks, never follows them
      const under = `${rel}/`;
      for (const set of [this.made, this.opaqueMade]) for (const p of set) if (p.startsWith(under)) set.delete(p);
      this.opaqueMade.delete(rel);
    } else {
      await fs.promises.unlink(abs);
    }
    if (existing.isDirectory() || existing.nlink <= 1) this.xattrsSet.delete(existing.ino);
    this.made.delete(rel);
  }

  /** Which in-place update an entry is (DELTA_PAX), if any; each must be a body-less file entry but offset. */
  private deltaOf(entryName: string, header: EntryHeader, rel: string): Delta | undefined {
    const pax = readPax(entryName, header.pax);
    const found = (Object.keys(DELTA_PAX) as Array<keyof typeof DELTA_PAX>).filter((k) => pax[DELTA_PAX[k]] !== undefined);
    if (found.length === 0) return undefined;
    if (found.length > 1) throw new UnsafeEntryError(entryName, `more than one of ${found.join(', ')}`);
    const kind = found[0];
    if (header.type !== 'file') throw new UnsafeEntryError(entryName, `a ${kind} entry must be of type file`);
    if (rel === '.') throw new UnsafeEntryError(entryName, `a ${kind} entry for the tree root`);
    if (kind !== 'offset' && header.size !== 0) throw new UnsafeEntryError(entryName, `a ${kind} entry with a body`);
    if (kind === 'delete' || kind === 'start') return { kind };
    const text = pax[DELTA_PAX[kind]];
    const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
    const end = kind === 'offset' ? n + (header.size ?? 0) : n;
    if (!Number.isSafeInteger(n) || !Number.isSafeInteger(end) || end > this.maxBytes) {
      throw new UnsafeEntryError(entryName, `${kind} ${JSON.stringify(text)} is not a number within ${this.maxBytes}`);
    }
    return { kind, n };
  }

  private async applyDelta(entryName: string, rel: string, header: EntryHeader, body: EntryBody, d: Delta): Promise<void> {
    if (d.kind === 'delete') {
      await this.drain(entryName, body);
      // A parent that is gone or not a directory holds nothing to delete (an overlay whiteout
      // may have removed it already).
      if (!(await this.isRealDirectory(path.posix.dirname(rel)))) return;
      const existing = await lstatOrNull(this.abs(rel));
      if (existing !== null) await this.remove(rel, existing);
      return;
    }
    if (d.kind === 'start') {
      await this.drain(entryName, body);
      const abs = await this.prepareTarget(entryName, rel);
      const fh = await fs.promises.open(abs, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW, 0o600);
      await fh.close();
      this.made.add(rel);
      return;
    }
    // offset and size: only into a file this stream made, reached without a symlink.
    if (!this.made.has(rel)) throw new UnsafeEntryError(entryName, 'an update of a file that was never sent');
    await this.checkAncestors(entryName, rel);
    const fh = await fs.promises.open(this.abs(rel), fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
    try {
      if (!(await fh.stat()).isFile()) throw new UnsafeEntryError(entryName, 'not a regular file');
      if (d.kind === 'offset') return await this.writeAt(entryName, fh, d.n, header.size ?? 0, body);
      await this.drain(entryName, body);
      const meta = this.readMeta(entryName, header, 'file');
      await fh.truncate(d.n);
      await fh.chown(meta.uid, meta.gid);
      await fh.chmod(meta.mode); // after chown, which clears setuid/setgid
      await this.setXattrs(this.abs(rel), meta.xattrs, true); // the file was kept: drop what the source removed
      await fh.utimes(meta.mtime, meta.mtime);
    } finally {
      await fh.close();
    }
  }

  /** An entry's body at `offset` of an open file (its size checked against the header). */
  private async writeAt(entryName: string, fh: fs.promises.FileHandle, offset: number, size: number, body: EntryBody): Promise<void> {
    let at = offset;
    for await (const chunk of body) {
      let buf = toBuffer(entryName, chunk);
      this.countBytes(entryName, buf.length);
      if (at + buf.length > offset + size) throw new UnsafeEntryError(entryName, 'body is longer than the header size');
      while (buf.length > 0) {
        const n = (await fh.write(buf, 0, buf.length, at)).bytesWritten;
        buf = buf.subarray(n);
        at += n;
      }
    }
    if (at !== offset + size) throw new UnsafeEntryError(entryName, `body is truncated (${at - offset} of ${size} bytes)`);
    this.fileBytes += size;
  }

  /** Every ancestor of `rel` below root must exist and be a real directory (not a symlink). */
  private async checkAncestors(entryName: string, rel: string): Promise<void> {
    const parts = rel.split('/');
    let current = '';
    for (const part of parts.slice(0, -1)) {
      current = current === '' ? part : `${current}/${part}`;
      if (this.safeDirs.has(current)) continue;
      const st = await lstatOrNull(this.abs(current));
      if (st === null) throw new UnsafeEntryError(entryName, `parent ${JSON.stringify(current)} does not exist`);
      if (!st.isDirectory()) {
        throw new UnsafeEntryError(entryName, `${JSON.stringify(current)} on the path is not a directory (symlink or file)`);
      }
      this.rememberSafeDir(current);
    }
  }

  private async isRealDirectory(rel: string): Promise<boolean> {
    if (rel === '.') return true;
    let current = '';
    for (const part of rel.split('/')) {
      current = current === '' ? part : `${current}/${part}`;
      const st = await lstatOrNull(this.abs(current));
      if (st === null || !st.isDirectory()) return false;
    }
    return true;
  }

  private rememberSafeDir(rel: string): void {
    if (this.safeDirs.size >= SAFE_DIR_CACHE_LIMIT) this.safeDirs.clear();
    this.safeDirs.add(rel);
  }

  private async checkRoot(): Promise<void> {
    if (this.rootChecked) return;
    const st = await fs.promises.stat(this.root);
    if (!st.isDirectory()) throw new Error(`diff target is not a directory: ${this.root}`);
    this.rootChecked = true;
  }

  private abs(rel: string): string {
    return rel === '.' ? this.root : path.join(this.root, rel);
  }

  private countBytes(entryName: string, n: number): void {
    this.bytes += n;
    if (this.bytes > this.maxBytes) throw new UnsafeEntryError(entryName, `more than ${this.maxBytes} bytes in total`);
  }

  /** Consumes a body that should be empty, still counting it against the budget. */
  private async drain(entryName: string, body: EntryBody): Promise<void> {
    for await (const chunk of body) this.countBytes(entryName, toBuffer(entryName, chunk).length);
  }

  /**
   * Sets the entry's xattrs. On an inode kept from an earlier round (a directory, a file updated
   * in place) the source may have removed some of what was set then: those go too. What this
   * applier set is remembered per inode (not read back: a getfattr per changed path would cost
   * the frozen pass), and only inodes that had any are remembered.
   */
  private async setXattrs(abs: string, xattrs: Map<string, Buffer>, kept = false): Promise<void> {
    // New inodes without xattrs, most of a tree, cost nothing here.
    if (!kept && xattrs.size === 0) return;
    const ino = (await fs.promises.lstat(abs)).ino;
    const before = this.xattrsSet.get(ino);
    if (kept && before !== undefined) {
      // A record may be stale (the inode number of a file removed since, reused): absent is fine.
      for (const name of before) if (!xattrs.has(name)) await removeXattr(abs, name, { absentOk: true });
    }
    if (xattrs.size > 0) this.xattrsSet.set(ino, new Set(xattrs.keys()));
    else this.xattrsSet.delete(ino);
    for (const [name, value] of xattrs) await setXattr(abs, name, value);
  }

  private readMeta(entryName: string, header: EntryHeader, type: unknown): EntryMeta {
    const pax = readPax(entryName, header.pax);
    const uid = checkId(entryName, 'uid', header.uid, pax.uid);
    const gid = checkId(entryName, 'gid', header.gid, pax.gid);
    const mode = header.mode;
    if (mode === undefined || !Number.isSafeInteger(mode) || mode < 0) {
      throw new UnsafeEntryError(entryName, `invalid mode ${String(mode)}`);
    }
    const mtime = header.mtime;
    if (!(mtime instanceof Date) || Number.isNaN(mtime.getTime())) throw new UnsafeEntryError(entryName, 'invalid mtime');

    const xattrs = new Map<string, Buffer>();
    let opaque = false;
    for (const [key, text] of Object.entries(pax)) {
      if (!key.startsWith(XATTR_PAX_PREFIX)) continue;
      const name = key.slice(XATTR_PAX_PREFIX.length);
      if (key === OPAQUE_PAX_KEY) {
        if (!this.overlay) throw new UnsafeEntryError(entryName, 'opaque directories are refused in a plain tree');
        if (type !== 'directory') throw new UnsafeEntryError(entryName, 'opaque flag on a non-directory');
        opaque = text === 'y';
        continue;
      }
      if (name.startsWith(OVERLAY_XATTR_PREFIX)) continue; // overlay bookkeeping is never set from the peer
      if (name.includes('\0') || !XATTR_NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) {
        throw new UnsafeEntryError(entryName, `invalid xattr name ${JSON.stringify(name)}`);
      }
      const value = xattrFromPax(text);
      if (value === null) throw new UnsafeEntryError(entryName, `xattr ${name} has an invalid encoded value`);
      this.countBytes(entryName, value.length);
      xattrs.set(name, value);
    }
    return { uid, gid, mode: mode & 0o7777, mtime, xattrs, opaque };
  }
}


