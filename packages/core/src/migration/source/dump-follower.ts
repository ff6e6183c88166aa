// The memory pages leave while CRIU is still dumping: CRIU writes its images to a local dir at
// full speed, and its pages-N.img files, which hold almost all of a checkpoint's bytes and only
// ever grow by appends, are read as they grow and go into the tar stream as pieces (repeated tar
// entries of the same name, which the destination appends to one file). The rest of the images
// follow once CRIU has exited, read the same way: one reader for all of CRIU's output (a
// --serial push sends its finished dump through it too).
//
// This replaced carrying CRIU's page-server protocol through the agents: CRIU's own dump
// to a local dir is 2-3x faster than through a page server (no protocol, no round trips
// through both agents), and the destination needs no criu process during the dump.
import fs from 'node:fs';
import path from 'node:path';
import type * as tar from 'tar-stream';
import type { EntryHeader } from '../../fsdiff/tar-format';
import { encodeRuns, MAX_PIECE, PAGE_SIZE, PAX } from '../../protocol/checkpoint-layout';
import type { BufferPool } from '../../stream/buffer-pool';
import type { ImageOp, ImagePlan, PageIndex } from './page-index';

/** The images that grow during the dump; the others are small and written near its end. */
const GROWING = /^pages-\d+\.img$/;
/** CRIU's own log: of no use to the destination (it writes its own restore log). */
const LEFT_OUT = 'dump.log';
/** Smallest piece while CRIU writes: smaller ones would cost more in headers than they save. */
const MIN_PIECE = 128 * 1024;
/** How long to wait for a file to grow before looking again. */
const POLL_MS = 1;

/** What the destination holds from the pre-copy; `prefix + name` entries say how to use it. */
export interface Reuse {
  index: PageIndex;
  prefix: string;
}

interface Followed {
  fd: number;
  sent: number;
}

/**
 * Packs CRIU's images from `imagesDir` under `prefix`: the growing ones while `dumping` runs,
 * then, once it has settled, all of them to their end (with an already settled `dumping`: a
 * dump made before, sent whole). Resolves with the bytes sent, or rejects with the dump's error.
 * Pieces are read into buffers of `pool` (MAX_PIECE bytes); the pack's reader gives each back once
 * it has copied it. With `reuse`, the pages images go through its index: what the destination
 * already holds of them is not sent (ImagePlan).
 */
export async function packImages(
  pack: tar.Pack,
  imagesDir: string,
  prefix: string,
  dumping: Promise<void>,
  pool: BufferPool,
  reuse?: Reuse,
): Promise<number> {
  let exited = false;
  const settled = dumping.then(() => {
    exited = true;
  });
  settled.catch(() => undefined); // raced below; a pack failing first must not leave it unhandled
  const files = new Map<string, Followed>();
  const plans = new Map<string, ImagePlan>();
  // Once CRIU has exited, the downtime waits on this pass: its entries go without a wait each.
  const window = new EntryWindow(pack, WINDOW_BYTES);
  let bytes = 0;
  try {
    for (;;) {
      // Read before listing: once CRIU has exited, this listing and these sizes are final.
      const last = exited;
      let moved = 0;
      for (const name of last ? allImages(imagesDir) : growingImages(imagesDir)) {
        let f = files.get(name);
        if (!f) files.set(name, (f = openImage(imagesDir, name)));
        let plan = plans.get(name);
        if (!plan && reuse && GROWING.test(name)) plans.set(name, (plan = reuse.index.image()));
        const to = { name: prefix + name, reuseName: reuse ? reuse.prefix + name : '' };
        for (;;) {
          let ready = fs.fstatSync(f.fd).size - f.sent;
          if (plan && !last) ready -= ready % PAGE_SIZE; // whole pages, while CRIU writes
          if (ready <= 0 || (!last && ready < MIN_PIECE)) break;
          const piece = readPiece(f, pool.take(Math.min(ready, MAX_PIECE)));
          if (plan) await packOps(pack, to, plan.ops(piece), piece, pool);
          else if (last) await window.add(fileHeader(to.name, piece.length), piece);
          else await packed(pack, fileHeader(to.name, piece.length), piece);
          moved += piece.length;
        }
        if (last && plan) await packOps(pack, to, plan.end(), undefined, pool);
        // An empty image still exists on the destination (CRIU may look for it).
        if (last && f.sent === 0) await window.add(fileHeader(to.name, 0), Buffer.alloc(0));
      }
      bytes += moved;
      if (last) {
        await window.drain();
        break;
      }
      if (moved === 0) await Promise.race([settled, new Promise((r) => setTimeout(r, POLL_MS))]);
    }
  } finally {
    for (const f of files.values()) fs.closeSync(f.fd);
  }
  return bytes;
}

/**
 * A pages image's ops for one piece as tar entries, in order: bytes as entries of `name`
 * (appended, or written at an offset), what the destination holds as entries of `reuseName`
 * (runs of the store, or the segment it adopts); the final size of an adopted image. Bytes travel
 * in buffers of `pool` (a piece that is sent whole, as it is); `piece` is given back.
 */
async function packOps(pack: tar.Pack, to: { name: string; reuseName: string }, ops: ImageOp[], piece: Buffer | undefined, pool: BufferPool): Promise<void> {
  if (piece && ops.length === 1 && 'literal' in ops[0] && ops[0].literal.length === piece.length) {
    return packed(pack, fileHeader(to.name, piece.length), piece);
  }
  const bytes = (b: Buffer): Buffer => {
    const copy = pool.take(b.length);
    b.copy(copy);
    return copy;
  };
  try {
    for (const op of ops) {
      if ('reuse' in op) {
        const body = encodeRuns(op.reuse);
        await packed(pack, fileHeader(to.reuseName, body.length), body);
      } else if ('literal' in op) {
        await packed(pack, fileHeader(to.name, op.literal.length), bytes(op.literal));
      } else if ('patch' in op) {
        await packed(pack, { ...fileHeader(to.name, op.patch.length), pax: { [PAX.offset]: String(op.at) } }, bytes(op.patch));
      } else if ('adopt' in op) {
        await packed(pack, marker(to.reuseName, PAX.segment, op.adopt), Buffer.alloc(0));
      } else if ('tail' in op) {
        await packed(pack, marker(to.name, PAX.tail, op.tail), Buffer.alloc(0));
      } else {
        await packed(pack, marker(to.name, PAX.size, op.size), Buffer.alloc(0));
      }
    }
  } finally {
    if (piece) pool.giveBack(piece);
  }
}

function fileHeader(name: string, size: number): EntryHeader {
  return { name, type: 'file', size, mode: 0o600 };
}

/** An empty entry that says one thing of an image in a pax record. */
function marker(name: string, key: string, value: number): EntryHeader {
  return { ...fileHeader(name, 0), pax: { [key]: String(value) } };
}

/** pages-N.img in CRIU's order of writing them. */
function growingImages(dir: string): string[] {
  return growingOf(fs.readdirSync(dir));
}

/** Every image, the growing ones first (one listing). */
function allImages(dir: string): string[] {
  const names = fs.readdirSync(dir);
  return [...growingOf(names), ...names.filter((n) => !GROWING.test(n) && n !== LEFT_OUT).sort()];
}

function growingOf(names: string[]): string[] {
  return names.filter((n) => GROWING.test(n)).sort((a, b) => Number(a.slice(6, -4)) - Number(b.slice(6, -4)));
}

/** CRIU writes only regular files there; anything else is refused, not followed. */
function openImage(dir: string, name: string): Followed {
  // O_NONBLOCK: a FIFO planted there must not hang the open.
  const fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new Error(`CRIU's images dir holds ${name}, which is not a regular file`);
  }
  return { fd, sent: 0 };
}

/** Fills `buf` from where `f` was sent up to. */
function readPiece(f: Followed, buf: Buffer): Buffer {
  const size = buf.length;
  let got = 0;
  while (got < size) {
    const n = fs.readSync(f.fd, buf, got, size - got, f.sent + got);
    if (n === 0) throw new Error('an image shrank while CRIU wrote it');
    got += n;
  }
  f.sent += size;
  return buf;
}

/** Bytes of entries handed to the pack without waiting for it to take them. */
const WINDOW_BYTES = 4 * MAX_PIECE;

/**
 * Entries added without waiting for the pack to take each (which costs a trip through the
 * consumer, ~0.7 ms an entry: ~10 ms for a dump's 30 small images); awaited together once
 * `limit` bytes are in flight, and at drain().
 */
class EntryWindow {
  private pending: Array<Promise<void>> = [];
  private bytes = 0;

  constructor(
    private readonly pack: tar.Pack,
    private readonly limit: number,
  ) {}

  async add(header: EntryHeader, body: Buffer): Promise<void> {
    const taken = packed(this.pack, header, body);
    taken.catch(() => undefined); // its error comes out of drain()
    this.pending.push(taken);
    this.bytes += body.length;
    if (this.bytes >= this.limit) await this.drain();
  }

  async drain(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    this.bytes = 0;
    await Promise.all(all);
  }
}

/** Adds one entry; resolves once the pack has taken it (its backpressure bounds memory). */
export function packed(pack: tar.Pack, header: EntryHeader, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, body, (err) => (err ? reject(err) : resolve())));
}
