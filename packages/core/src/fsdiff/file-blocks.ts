// A large file in blocks: an entry that starts it (a new file), entries that write runs of
// changed blocks at their offset, and a final entry with its size and metadata. Each block's
// digest is kept (SentTree), so that the next round of a file that changed sends only the blocks
// that differ from what the destination holds (as rsync does, without its rolling search: a
// database rewrites its pages in place). Blocks of zeros past what the destination holds are not
// sent: its final size leaves them zeros (a 10 GiB sparse file with 1 MiB of data sends 1 MiB).
import fs from 'node:fs';
import type * as tar from 'tar-stream';
import { runCommand } from '../util/exec';
import { staticHelper } from './static-helper';
import type { BufferPool } from '../stream/buffer-pool';
import { DELTA_PAX, type EntryHeader } from './tar-format';

/** Files from this size on go in blocks. */
export const BLOCK_FORM_MIN = 1024 * 1024;
/** The unit of change: a 4 KiB write costs this much on the wire (a database page is 8 KiB). */
export const DIGEST_BLOCK = 16 * 1024;
/**
 * Bytes of a block digest kept: xxHash64. A block that changed goes unnoticed with probability
 * 2^-64 (its data is the container's own: only it could aim at a collision, against itself).
 * Chosen for the frozen pass, which re-reads every large file that changed since the last round:
 * 3.3 GB/s here against SHA-256's 1.3-1.6 GB/s (with SHA-NI), so a 1 GiB database file costs
 * ~0.45 s of downtime instead of ~0.8 s.
 */
export const BLOCK_DIGEST = 8;
// An ES module: loaded with import() from this CommonJS build.
const hasher = import('xxhash-wasm').then((m) => m.default());
/** Read at once, and the most one entry writes. */
const PIECE = 1024 * 1024;
/** A file opened to be read: never through a symlink, never waiting (a FIFO put in its place). */
export const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
const ZEROS = Buffer.alloc(PIECE);
const EMPTY = Buffer.alloc(0);

export interface BlocksRequest {
  pack: tar.Pack;
  abs: string;
  /** name, mode, owner, mtime: the final entry's. */
  header: EntryHeader;
  /** xattrs and ids: the final entry's. */
  pax: Record<string, string>;
  /** lstat's size: read up to it. */
  size: number;
  /** lstat's blocks x 512: what the file holds allocated (less than its size: sparse). */
  allocated: number;
  /** The file may change while it is read: read as far as it goes. */
  live: boolean;
  /** What the destination holds of it (sent in blocks before); without it, a new file. */
  prev: { digests?: Buffer; size?: number } | undefined;
  pool: BufferPool | undefined;
  /** The helper's digests of it, started before (startNativeDigests): this takes them over. */
  native?: NativeDigests;
}

/** A file open for the native helper, and its digests to come (block-digests.c). */
export interface NativeDigests {
  fd: number;
  digests: Promise<{ digests: Buffer; covered: number }>;
}

/** Whether a file of `size` that the destination holds as `prev` is digested by the native helper. */
export function digestsNatively(prev: { digests?: Buffer; size?: number } | undefined, size: number): boolean {
  return prev?.digests !== undefined && prev.size !== undefined && size >= NATIVE_DIGESTS_FROM;
}

/**
 * Opens the file and starts the helper on it now (the frozen pass starts it as soon as its walk
 * finds the file, and walks on meanwhile). Throws as open does (a file gone).
 */
export function startNativeDigests(abs: string, size: number): NativeDigests {
  const fd = fs.openSync(abs, OPEN_FLAGS);
  const digests = blockDigests(fd, size);
  digests.catch(() => undefined); // awaited by emitBlocks, or dropped with the pack
  return { fd, digests };
}

export interface BlocksSent {
  entries: number;
  dataBytes: number;
  /** Of each block of the file as the destination now holds it. */
  digests: Buffer;
  /** The destination's file size now. */
  size: number;
}

/**
 * From this size on, a file sent before has its blocks digested by the native helper
 * (block-digests.c) and only the blocks that changed are read here: a spawn costs a few ms, the
 * WebAssembly hash ~0.3 ms a MiB.
 */
export const NATIVE_DIGESTS_FROM = 16 * 1024 * 1024;

export async function emitBlocks(r: BlocksRequest): Promise<BlocksSent> {
  if (r.native || digestsNatively(r.prev, r.size)) return emitChangedBlocks(r, { digests: r.prev?.digests ?? Buffer.alloc(0), size: r.prev?.size ?? 0 });
  const { h64Raw } = await hasher;
  // A piece of zeros (one compare) takes this digest for each of its blocks instead of hashing
  // them; a piece within a hole of a sparse file is not even read (the kernel would fill it with
  // zeros at ~0.4-1 GB/s on this VM: 25 s for a 10 GiB file with 1 MiB of data).
  const zeroBlock = zeroDigest(h64Raw, DIGEST_BLOCK);
  const data = await dataRanges(r.abs, r.size, r.allocated);
  let next = 0; // the first data segment that does not end before the piece
  const fd = fs.openSync(r.abs, OPEN_FLAGS);
  try {
    const out = new BlockEmitter(r);
    if (!r.prev?.digests) await out.entry({ name: r.header.name, type: 'file', size: 0, mode: 0o600 }, { [DELTA_PAX.start]: '1' });
    const prevDigests = r.prev?.digests ?? Buffer.alloc(0);
    const prevSize = r.prev?.size ?? 0;
    const digests = Buffer.alloc(Math.ceil(r.size / DIGEST_BLOCK) * BLOCK_DIGEST);
    let at = 0;
    while (at < r.size) {
      const want = Math.min(PIECE, r.size - at);
      while (data !== undefined && next < data.length && data[next][1] <= at) next++; // pieces go in order
      const hole = data !== undefined && (next === data.length || data[next][0] >= at + want);
      const piece = hole ? ZEROS.subarray(0, want) : r.pool && want === r.pool.size ? r.pool.take() : Buffer.allocUnsafe(want);
      const n = hole ? want : readFully(fd, piece, at);
      if (n < want && !r.live) throw new Error(`file shrank while being packed (lstat size ${r.size}, read ${at + n}): ${r.abs}`);
      const runs: Array<[number, number]> = []; // [start, end) in piece of blocks to send
      const allZeros = piece.subarray(0, n).equals(ZEROS.subarray(0, n));
      for (let b = 0; b < n; b += DIGEST_BLOCK) {
        const block = piece.subarray(b, Math.min(n, b + DIGEST_BLOCK));
        const i = (at + b) / DIGEST_BLOCK;
        const d = allZeros && block.length === DIGEST_BLOCK ? zeroBlock : h64Raw(block);
        digests.writeBigUInt64LE(d, i * BLOCK_DIGEST);
        const held = (i + 1) * BLOCK_DIGEST <= prevDigests.length && prevDigests.readBigUInt64LE(i * BLOCK_DIGEST) === d;
        const zeros = at + b >= prevSize && (allZeros || block.equals(ZEROS.subarray(0, block.length)));
        if (held || zeros) continue;
        const last = runs[runs.length - 1];
        if (last && last[1] === b) last[1] = b + block.length;
        else runs.push([b, b + block.length]);
      }
      await out.runs(piece, at, runs, n);
      at += n;
      if (n < want) break; // live: it got shorter; sent as far as it goes
    }
    await out.entry({ ...r.header, type: 'file', size: 0 }, { ...r.pax, [DELTA_PAX.size]: String(at) });
    return { entries: out.entries, dataBytes: out.dataBytes, digests: digests.subarray(0, Math.ceil(at / DIGEST_BLOCK) * BLOCK_DIGEST), size: at };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A file sent before, from the native helper's digests: the blocks whose digest differs from what
 * the destination holds are read and sent (each recorded with the digest of the data read, which
 * is what the destination gets: a block rewritten after the helper read it goes in the next round
 * or the frozen pass); the others keep theirs.
 */
async function emitChangedBlocks(r: BlocksRequest, prev: { digests: Buffer; size: number }): Promise<BlocksSent> {
  const { h64Raw } = await hasher;
  const native = r.native ?? startNativeDigests(r.abs, r.size);
  const fd = native.fd;
  try {
    const now = await native.digests;
    let size = now.covered;
    if (size < r.size && !r.live) throw new Error(`file shrank while being packed (lstat size ${r.size}, read ${size}): ${r.abs}`);
    const count = Math.ceil(size / DIGEST_BLOCK);
    const digests = Buffer.alloc(count * BLOCK_DIGEST);
    const changed: number[] = [];
    for (let i = 0; i < count; i++) {
      const d = now.digests.readBigUInt64LE(i * BLOCK_DIGEST);
      digests.writeBigUInt64LE(d, i * BLOCK_DIGEST);
      const held = (i + 1) * BLOCK_DIGEST <= prev.digests.length && prev.digests.readBigUInt64LE(i * BLOCK_DIGEST) === d;
      const length = Math.min(DIGEST_BLOCK, size - i * DIGEST_BLOCK);
      const zeros = i * DIGEST_BLOCK >= prev.size && d === zeroDigest(h64Raw, length);
      if (!held && !zeros) changed.push(i);
    }
    const out = new BlockEmitter(r);
    for (let k = 0; k < changed.length;) {
      // A run of consecutive changed blocks, at most one piece long.
      let end = k + 1;
      while (end < changed.length && changed[end] === changed[end - 1] + 1 && (end - k + 1) * DIGEST_BLOCK <= PIECE) end++;
      const at = changed[k] * DIGEST_BLOCK;
      const want = Math.min((end - k) * DIGEST_BLOCK, size - at);
      const piece = r.pool && r.pool.size === PIECE ? r.pool.take() : Buffer.allocUnsafe(PIECE);
      const n = readFully(fd, piece.subarray(0, want), at);
      if (n < want && !r.live) throw new Error(`file shrank while being packed (lstat size ${r.size}, read ${at + n}): ${r.abs}`);
      for (let b = 0; b < n; b += DIGEST_BLOCK) digests.writeBigUInt64LE(h64Raw(piece.subarray(b, Math.min(n, b + DIGEST_BLOCK))), ((at + b) / DIGEST_BLOCK) * BLOCK_DIGEST);
      await out.runs(piece, at, n > 0 ? [[0, n]] : [], n);
      if (n < want) {
        size = at + n; // live: it got shorter since the helper read it; sent as far as it goes
        break;
      }
      k = end;
    }
    await out.entry({ ...r.header, type: 'file', size: 0 }, { ...r.pax, [DELTA_PAX.size]: String(size) });
    return { entries: out.entries, dataBytes: out.dataBytes, digests: digests.subarray(0, Math.ceil(size / DIGEST_BLOCK) * BLOCK_DIGEST), size };
  } finally {
    fs.closeSync(fd);
  }
}

const zeroDigests = new Map<number, bigint>();
function zeroDigest(h64Raw: (data: Uint8Array) => bigint, length: number): bigint {
  let d = zeroDigests.get(length);
  if (d === undefined) zeroDigests.set(length, (d = h64Raw(ZEROS.subarray(0, length))));
  return d;
}

export const BLOCK_DIGESTS_BIN = staticHelper('block-digests');

/** The digests of the file open on `fd` up to `size` (block-digests.c), and how many bytes they cover. */
export async function blockDigests(fd: number, size: number): Promise<{ digests: Buffer; covered: number }> {
  const out = await runCommand(BLOCK_DIGESTS_BIN, [String(size)], undefined, fd);
  const covered = out.length >= BLOCK_DIGEST ? Number(out.readBigUInt64LE(out.length - BLOCK_DIGEST)) : -1;
  if (covered < 0 || covered > size || out.length !== (Math.ceil(covered / DIGEST_BLOCK) + 1) * BLOCK_DIGEST) {
    throw new Error(`block-digests gave ${out.length} bytes for ${size}`);
  }
  return { digests: out.subarray(0, out.length - BLOCK_DIGEST), covered };
}

export const DATA_RANGES_BIN = staticHelper('data-ranges');

/**
 * A sparse file's data segments ([start, end) byte ranges), or undefined for a file that has no
 * holes worth skipping (allocated at least 7/8 of its size: most files, and no process spawned).
 */
async function dataRanges(abs: string, size: number, allocated: number): Promise<Array<[number, number]> | undefined> {
  if (allocated >= size - size / 8) return undefined;
  const out = (await runCommand(DATA_RANGES_BIN, [abs])).toString('latin1');
  return out.split('\n').filter(Boolean).map((l) => l.split(' ').map(Number) as [number, number]);
}

function readFully(fd: number, buf: Buffer, position: number): number {
  let read = 0;
  while (read < buf.length) {
    const n = fs.readSync(fd, buf, read, buf.length - read, position + read);
    if (n === 0) break;
    read += n;
  }
  return read;
}

class BlockEmitter {
  entries = 0;
  dataBytes = 0;

  constructor(private readonly r: BlocksRequest) {}

  /** Runs of `piece` (read at file offset `at`) as write-at entries; the piece goes back to the pool unless sent whole. */
  async runs(piece: Buffer, at: number, runs: Array<[number, number]>, n: number): Promise<void> {
    const whole = runs.length === 1 && runs[0][0] === 0 && runs[0][1] === piece.length && n === piece.length;
    for (const [start, end] of runs) {
      // A pooled piece sent whole is given back by the pack's reader; parts of it are copied.
      const body = whole ? piece : Buffer.from(piece.subarray(start, end));
      await this.entry({ name: this.r.header.name, type: 'file', size: body.length, mode: 0o600 }, { [DELTA_PAX.offset]: String(at + start) }, body);
      this.dataBytes += body.length;
    }
    if (!whole) this.r.pool?.giveBack(piece);
  }

  entry(header: EntryHeader, pax: Record<string, string>, body?: Buffer): Promise<void> {
    this.entries++;
    return new Promise<void>((resolve, reject) => {
      const h = Object.keys(pax).length > 0 ? { ...header, pax } : header;
      // A file entry without a buffer would wait for a body written to it: an empty one instead.
      this.r.pack.entry(h, body ?? EMPTY, (err) => (err ? reject(err) : resolve()));
    });
  }
}
