import fs from 'node:fs';
import path from 'node:path';
import type * as tar from 'tar-stream';
import type { BufferPool } from '../stream/buffer-pool';
import { digestsNatively, emitBlocks, startNativeDigests, BLOCK_FORM_MIN, OPEN_FLAGS, type NativeDigests } from './file-blocks';
import { LOOK_AGAIN, SentTree, type EntryKind } from './sent-tree';
import { walkedPaths, walkTree, type WalkedPath } from './tree-walk';
import { readTreeXattrs, readXattrsOf, type XattrSet } from './xattrs';
import {
  DELTA_PAX,
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
  /** Relative paths matching this are skipped too (with their subtree), never looked at. */
  excludePattern?: RegExp;
  /**
   * The tree's xattrs (readTreeXattrs), if already read or being read; 'none' when the tree's
   * xattrs do not matter (CRIU's images); 'changed': only those of the paths that go, read after
   * the walk (a later round, where few paths changed: getfattr of a tree of 20k files took
   * ~0.1 s, and the walk waited for it). Default: read them now.
   */
  xattrs?: Promise<Map<string, XattrSet>> | 'none' | 'changed';
  /**
   * What earlier rounds sent of this tree (updated): only what changed since goes, what is gone
   * goes as a delete. Without it, the whole tree goes.
   */
  sent?: SentTree;
  /**
   * The tree may change while it is read (a round before the freeze): a file is sent as read,
   * and one that changed meanwhile is looked at again in the next round.
   */
  live?: boolean;
  /** Buffers for the pieces of files sent in blocks; the pack's reader gives them back. */
  pool?: BufferPool;
}

export interface PackStats {
  entries: number;
  /** File data sent (blocks of files sent in blocks). */
  fileBytes: number;
  /** Paths deleted on the destination. */
  deleted: number;
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

  // A live round's xattrs are read first: a path changed after that may be missing its xattrs in
  // this round and is looked at again in the next (as a racily clean one).
  const xattrsFrom = BigInt(Date.now()) * 1_000_000n;
  const later = opts.xattrs === 'changed';
  const xattrs = opts.xattrs === 'none' || opts.xattrs === 'changed' ? new Map<string, XattrSet>() : await (opts.xattrs ?? readTreeXattrs(absRoot, opts.live));
  const sent = opts.sent ?? new SentTree();
  const packer = new TreePacker(pack, absRoot, prefix, opts, xattrs, sent, xattrsFrom, later);
  sent.startRound();
  try {
    // A later round walks natively (most paths unchanged); the first, with lstat as it sends.
    if (later) {
      // Frozen, their digests while the tree is walked. (Live, a file changed between that lstat
      // and the walk's in the same tick of the coarse clock would keep digests older than its
      // ctime says: the walk's lstat starts them there.)
      if (!opts.live) packer.startChangedLargeFiles();
      await packer.packWalked(walkedPaths(await walkTree(absRoot), absRoot));
      // Read after the walk, the xattrs are at least as new as the ctime kept for their path: a
      // change after the read changes the ctime again, and the next round sends the path again.
      await packer.emitPending(await readXattrsOf(packer.xattrPaths, opts.live));
    } else await packer.packPath('.');
  } finally {
    packer.dropDigests();
  }
  for (const rel of sent.takeGone()) await packer.emitDelete(rel);
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

/**
 * A file whose ctime is this close to the moment it was looked at may change again within the
 * same tick of the kernel's coarse clock, and its ctime would then not show it (git's "racily
 * clean" files): it is looked at again in the next round.
 */
const RACY_NS = 100_000_000n;

/** What opening a file of a live tree may meet when it was just removed or replaced. */
const GONE = ['ENOENT', 'ELOOP', 'ENXIO'];

/**
 * The kinds a native walk's st_mode tells without more (tree-walk.ts); the rest (sockets, device
 * nodes, whiteouts) are looked at with lstat as packPath does.
 */
const KIND_BY_TYPE = new Map<number, EntryKind>([
  [fs.constants.S_IFDIR, 'dir'],
  [fs.constants.S_IFREG, 'file'],
  [fs.constants.S_IFLNK, 'symlink'],
  [fs.constants.S_IFIFO, 'fifo'],
]);

function kindOf(st: fs.BigIntStats, overlay: boolean, abs: string): EntryKind | undefined {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return undefined; // skipped: the restored process recreates the sockets it had bound
  if (st.isCharacterDevice() && st.rdev === 0n && overlay) return 'whiteout';
  throw new Error(`device nodes in the container filesystem are not supported: ${abs}`);
}

class TreePacker {
  readonly stats: PackStats = { entries: 0, fileBytes: 0, deleted: 0 };
  private readonly exclude: Set<string>;
  /** dev:ino of multiply-linked regular files sent this round → tar name of the first path seen. */
  private readonly firstLinks = new Map<string, string>();
  /** Deferred (xattrs 'changed'): the entries to emit after the walk, in walk order, and whose xattrs they need. */
  private readonly pending: Array<() => Promise<void>> = [];
  readonly xattrPaths: string[] = [];
  /** Deferred: the native digests of large changed files, started as the walk found them. */
  private readonly digests = new Map<string, { native: NativeDigests; st: fs.BigIntStats }>();

  constructor(
    private readonly pack: tar.Pack,
    private readonly root: string,
    private readonly prefix: string,
    private readonly opts: PackTreeOptions,
    private readonly xattrs: Map<string, XattrSet>,
    private readonly sent: SentTree,
    /** When the xattrs were read (live rounds): a ctime after it may not be in them. */
    private readonly xattrsFrom: bigint,
    /** Emit after the walk (emitPending), once the xattrs of what goes are read. */
    private readonly deferred = false,
  ) {
    this.exclude = new Set((opts.exclude ?? []).map(normalizeExclude));
  }

  async packPath(rel: string): Promise<void> {
    if (this.excluded(rel)) return;
    const kind = await this.packOne(rel);
    if (kind === 'dir') {
      // Below an unchanged directory files may still have changed: always walked.
      const abs = rel === '.' ? this.root : path.join(this.root, rel);
      const children = this.readdir(abs);
      const names = children.map((raw) => utf8Name(raw, abs)).sort();
      for (const name of names) await this.packPath(rel === '.' ? name : `${rel}/${name}`);
    }
  }

  /**
   * The tree as the native walk saw it (tree-walk.ts; deferred rounds): a path whose inode, type,
   * ctime and link count are those sent is unchanged; the others are looked at as packPath
   * does, one by one (their subtrees are in the walk too).
   */
  async packWalked(walked: Iterable<WalkedPath>): Promise<void> {
    let skipUnder: string | undefined; // an excluded directory's subtree
    for (const w of walked) {
      if (skipUnder !== undefined && w.rel.startsWith(skipUnder)) continue;
      skipUnder = undefined;
      if (this.excluded(w.rel)) {
        if (w.rel === '.') return;
        skipUnder = `${w.rel}/`;
        continue;
      }
      const prev = this.sent.get(w.rel);
      const kind = KIND_BY_TYPE.get(w.mode & 0o170000);
      const same = prev !== undefined && kind !== undefined && prev.ino === w.ino && prev.kind === kind && prev.ctimeNs === w.ctimeNs && !(kind === 'file' && w.nlink > 1);
      if (same) this.sent.saw(w.rel);
      else await this.packOne(w.rel);
    }
  }

  private excluded(rel: string): boolean {
    return this.exclude.has(rel) || (this.opts.excludePattern?.test(rel) ?? false);
  }

  /** One path: looked at (lstat), compared with what was sent, sent if it changed. Its kind, or undefined if skipped or gone. */
  private async packOne(rel: string): Promise<EntryKind | undefined> {
    const abs = rel === '.' ? this.root : path.join(this.root, rel);
    // Synchronous metadata calls: the tree is local, and a threadpool round trip per file costs
    // more than the syscall (the last round runs while the container is down).
    const lookedAt = BigInt(Date.now()) * 1_000_000n;
    const st = this.lstat(abs);
    if (!st) return undefined; // gone while a live round walked past it: deleted at the round's end
    const kind = kindOf(st, this.opts.overlay, abs);
    if (kind === undefined) return undefined;
    this.sent.saw(rel);
    let prev = this.sent.get(rel);
    if (prev && (prev.ino !== st.ino || prev.kind !== kind)) {
      // Another file now: the old one goes first (a directory with what is below it).
      await this.act(() => this.emitDelete(rel));
      this.sent.forget(rel);
      prev = undefined;
    }
    // Racily clean (see RACY_NS): looked at again next time, whatever its ctime then says.
    const racy = lookedAt - st.ctimeNs < RACY_NS || st.ctimeNs >= this.xattrsFrom - RACY_NS;
    const ctimeNs = this.opts.live && racy ? LOOK_AGAIN : st.ctimeNs;
    // Every path of a multiply-linked file goes when any does (its ctime is the inode's, but one
    // path may be marked to look again and another not): the destination links them anew.
    const changed = prev === undefined || prev.ctimeNs !== st.ctimeNs || (kind === 'file' && st.nlink > 1n);
    if (changed) {
      const f = { ctimeNs, prev: prev?.digests ? prev : undefined };
      if (this.deferred && kind === 'file' && st.nlink === 1n && digestsNatively(f.prev, Number(st.size))) this.startDigests(rel, abs, st);
      await this.act(() => this.emitEntry(rel, abs, st, kind, f), kind === 'whiteout' ? undefined : abs);
    }
    return kind;
  }

  /** Runs `emit` now, or after the walk (deferred), noting the path whose xattrs it will need. */
  private act(emit: () => Promise<void>, xattrsOf?: string): Promise<void> {
    if (!this.deferred) return emit();
    this.pending.push(emit);
    if (xattrsOf !== undefined) this.xattrPaths.push(xattrsOf);
    return Promise.resolve();
  }

  /**
   * Before the walk: the large files sent before whose ctime changed since (a few lstat calls)
   * have the helper digest them now, while the tree is walked (on the other cores).
   */
  startChangedLargeFiles(): void {
    for (const [rel, prev] of this.sent.inBlocks()) {
      if (this.excluded(rel)) continue;
      const abs = path.join(this.root, rel);
      const st = this.lstat(abs);
      if (st?.isFile() && st.nlink === 1n && st.ino === prev.ino && st.ctimeNs !== prev.ctimeNs && digestsNatively(prev, Number(st.size))) this.startDigests(rel, abs, st);
    }
  }

  /**
   * The helper digests a large changed file while the walk goes on. Started again if the one
   * started before the walk is of another lstat than the walk's (the file changed meanwhile: the
   * digests must be of data read after the lstat whose ctime is kept).
   */
  private startDigests(rel: string, abs: string, st: fs.BigIntStats): void {
    const have = this.digests.get(rel);
    if (have && have.st.ino === st.ino && have.st.ctimeNs === st.ctimeNs && have.st.size === st.size) return;
    if (have) {
      this.digests.delete(rel);
      fs.closeSync(have.native.fd);
    }
    try {
      this.digests.set(rel, { native: startNativeDigests(abs, Number(st.size)), st });
    } catch (err) {
      if (!this.opts.live || !GONE.includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      // Gone since its lstat: its emission meets that again (and looks at it next round).
    }
  }

  private takeDigests(rel: string): NativeDigests | undefined {
    const d = this.digests.get(rel);
    this.digests.delete(rel);
    return d?.native;
  }

  /** Closes what emission did not take over (a failed pack, a file found unchanged by the walk). */
  dropDigests(): void {
    for (const d of this.digests.values()) fs.closeSync(d.native.fd);
    this.digests.clear();
  }

  /** Deferred: the walk's entries, in its order, with the xattrs read since. */
  async emitPending(xattrs: Map<string, XattrSet>): Promise<void> {
    for (const [k, v] of xattrs) this.xattrs.set(k, v);
    for (const emit of this.pending.splice(0)) await emit();
  }

  /** A path that changed since it was sent (or was never sent): its entry, and what was sent of it. */
  private async emitEntry(rel: string, abs: string, st: fs.BigIntStats, kind: EntryKind, f: Pick<FileToPack, 'ctimeNs' | 'prev'>): Promise<void> {
    // Built only here: the frozen pass walks every path, most of them unchanged.
    const header = this.header(rel, st);
    const pax = kind === 'whiteout' ? {} : this.xattrPax(abs, rel, kind === 'dir');
    Object.assign(pax, idPax(st));
    if (kind === 'file') return this.packFile(rel, abs, st, { header, pax, ...f });
    this.sent.set(rel, { ino: st.ino, ctimeNs: f.ctimeNs, kind });
    if (kind === 'dir') return this.emit({ ...header, type: 'directory' }, pax);
    if (kind === 'symlink') {
      const target = utf8Name(fs.readlinkSync(abs, { encoding: 'buffer' }), abs);
      return this.emit({ ...header, type: 'symlink', linkname: target }, pax);
    }
    if (kind === 'fifo') return this.emit({ ...header, type: 'fifo' }, pax);
    return this.emit({ ...header, type: 'character-device', devmajor: 0, devminor: 0 }, pax);
  }

  /** A path sent before and gone now (or another file now): the destination removes it. */
  async emitDelete(rel: string): Promise<void> {
    const header = { name: this.prefix + rel, type: 'file' as const, size: 0, mode: 0o600, pax: { [DELTA_PAX.delete]: '1' } };
    // With a body (empty): a file entry without one would wait for a body written to it.
    await new Promise<void>((resolve, reject) => this.pack.entry(header, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
    this.stats.entries++;
    this.stats.deleted++;
  }

  private header(rel: string, st: fs.BigIntStats): EntryHeader {
    return {
      name: this.prefix + rel,
      // Full st_mode on purpose: tar-stream masks the type bits off, but would replace a
      // plain 0 (e.g. /etc/shadow mode 0000) with its default 0644.
      mode: Number(st.mode),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: new Date(Number(st.mtimeMs)),
    };
  }

  private async packFile(rel: string, abs: string, st: fs.BigIntStats, f: FileToPack): Promise<void> {
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.firstLinks.get(key);
      if (first !== undefined) {
        this.sent.set(rel, { ino: st.ino, ctimeNs: f.ctimeNs, kind: 'file' });
        return this.emit({ ...f.header, type: 'link', linkname: first }, f.pax);
      }
      this.firstLinks.set(key, f.header.name);
    }
    try {
      await this.packContent(rel, abs, st, f);
    } catch (err) {
      if (!this.opts.live || !GONE.includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      // Gone or replaced between its lstat and its open (nothing of it is in the stream yet): the
      // next round looks at it again, and deletes it there if it is gone.
      this.firstLinks.delete(`${st.dev}:${st.ino}`);
      const prev = this.sent.get(rel);
      if (prev) this.sent.set(rel, { ...prev, ctimeNs: LOOK_AGAIN });
    }
  }

  private async packContent(rel: string, abs: string, st: fs.BigIntStats, f: FileToPack): Promise<void> {
    if (f.prev || st.size >= BigInt(BLOCK_FORM_MIN)) {
      const r = await emitBlocks({
        pack: this.pack, abs, header: f.header, pax: f.pax, size: Number(st.size), allocated: Number(st.blocks) * 512, live: this.opts.live ?? false,
        prev: f.prev, pool: this.opts.pool, native: this.takeDigests(rel),
      });
      this.stats.entries += r.entries;
      this.stats.fileBytes += r.dataBytes;
      this.sent.set(rel, { ino: st.ino, ctimeNs: this.stillAsRead(abs, st) ? f.ctimeNs : LOOK_AGAIN, kind: 'file', digests: r.digests, size: r.size });
      return;
    }
    const data = this.readSmallFile(abs, Number(st.size));
    this.sent.set(rel, { ino: st.ino, ctimeNs: this.stillAsRead(abs, st) ? f.ctimeNs : LOOK_AGAIN, kind: 'file' });
    if (Object.keys(f.pax).length > 0) f.header.pax = f.pax;
    await new Promise<void>((resolve, reject) => {
      this.pack.entry({ ...f.header, type: 'file', size: data.length }, data, (err) => (err ? reject(err) : resolve()));
    });
    this.stats.entries++;
    this.stats.fileBytes += data.length;
  }

  /** Frozen: it is. Live: whether the file's ctime and size are still those read before. */
  private stillAsRead(abs: string, st: fs.BigIntStats): boolean {
    if (!this.opts.live) return true;
    const now = this.lstat(abs);
    return now !== undefined && now.ctimeNs === st.ctimeNs && now.size === st.size;
  }

  /** A file under BLOCK_FORM_MIN, in one read. Frozen, its size must not change; live, it may. */
  private readSmallFile(abs: string, size: number): Buffer {
    const fd = fs.openSync(abs, OPEN_FLAGS);
    try {
      const data = Buffer.allocUnsafe(size + 1); // one byte more: a file that grew shows
      let read = 0;
      while (read <= size) {
        const n = fs.readSync(fd, data, read, data.length - read, null);
        if (n === 0) break;
        read += n;
      }
      if (this.opts.live) return data.subarray(0, Math.min(read, size));
      if (read !== size) throw new Error(`file changed size while being packed (lstat size ${size}, read ${read}): ${abs}`);
      return data.subarray(0, size);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** lstat; in a live round a path may be gone by now (undefined). */
  private lstat(abs: string): fs.BigIntStats | undefined {
    try {
      return fs.lstatSync(abs, { bigint: true });
    } catch (err) {
      if (this.opts.live && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private readdir(abs: string): Buffer[] {
    try {
      return fs.readdirSync(abs, { encoding: 'buffer' });
    } catch (err) {
      if (this.opts.live && ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
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
}

interface FileToPack {
  header: EntryHeader;
  pax: Record<string, string>;
  ctimeNs: bigint;
  /** As sent before in blocks (the digests of what the destination holds). */
  prev: { digests?: Buffer; size?: number } | undefined;
}

/** Ids too big for the ustar field travel as pax records. */
function idPax(st: fs.BigIntStats): Record<string, string> {
  const pax: Record<string, string> = {};
  if (st.uid > BigInt(MAX_USTAR_ID)) pax.uid = String(st.uid);
  if (st.gid > BigInt(MAX_USTAR_ID)) pax.gid = String(st.gid);
  return pax;
}
