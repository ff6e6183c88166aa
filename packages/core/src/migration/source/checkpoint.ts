// Freeze, criu dump, and Chunk* -> End: one tar stream -> zstd -> chunks to the destination, with
// backpressure all the way. The files go first (the container is frozen, so they are final, and
// they leave while CRIU starts up), then CRIU's images: the pages as CRIU writes them (unless
// serial; those the pre-copy sent unchanged as references to it), the other images once it
// exits; the container's log last.
import fs from 'node:fs';
import * as tar from 'tar-stream';
import { dumpArgs } from '../../criu/criu-options';
import { runCriu } from '../../criu/criu-runner';
import type { ContainerInspect } from '../../docker/docker-client';
import type { XattrSet } from '../../fsdiff';
import { LOG_ENTRY, MAX_PIECE, PREFIX } from '../../protocol/checkpoint-layout';
import { BufferPool } from '../../stream/buffer-pool';
import { SealedSender } from '../../stream/sealed-sender';
import { trace } from '../../util/trace';
import { freezeCgroup } from '../cgroup-freezer';
import { writeRecord, type SourceRecord } from '../migration-record';
import { netnsInode } from '../process-facts';
import { diskTrees, packTrees, readXattrs, type DiskPrecopied } from './disk';
import { packImages, packed, type Reuse } from './dump-follower';
import { treeBytes, type SourceFacts } from './facts';
import type { Push } from './one-push';
import { sendPack } from './pack-sender';
import type { PageIndex } from './page-index';

/**
 * The tar stream pauses while CRIU has not written more: a partly filled chunk then goes after
 * this long (it may hold runs of reused pages that the destination copies while CRIU dumps).
 */
const QUIET_MS = 2;

/** The frozen container being dumped. */
export interface Dumping {
  /** When the container froze: the downtime starts here. */
  freezeAt: number;
  /** criu dump; settled once CRIU has exited. */
  dumped: Promise<void>;
  /**
   * Each disk tree's xattrs, by prefix, read (a getfattr run each) while CRIU dumps; after disk
   * rounds, 'changed': only those of the paths that changed since the last round, after the walk.
   */
  xattrs: Map<string, Promise<Map<string, XattrSet>>> | 'changed';
}

export interface CheckpointSent {
  raw: number;
  wire: number;
  sizes: { images: number; rootfs: number; volumes: number };
}

/** What a restarted agent reads to finish or undo this push (migration-record.ts). */
export function sourceRecord(p: Push): SourceRecord {
  const { ctx, opts, f, state } = p;
  return {
    role: 'source',
    migrationId: state.migrationId,
    destination: opts.destination,
    containerId: f.inspect.Id,
    name: f.name,
    cgroupDir: f.freezerDir,
    commitSent: false,
    committed: false,
    keepSource: opts.keepSource,
    leaseMs: ctx.leaseMs,
    volumes: f.prepare.container.mounts.filter((m) => m.type === 'volume').map((m) => m.name),
  };
}

/** Writes the record (a restarted agent resumes the tree), freezes the container, starts criu dump. */
export async function freezeAndDump(p: Push): Promise<Dumping> {
  const { ctx, opts, f, state } = p;
  p.clock.start('dump');
  fs.mkdirSync(state.imagesDir, { recursive: true });
  writeRecord(state.workDir, (state.record = sourceRecord(p))); // before the freeze
  const freezeAt = performance.now();
  trace('src: freeze');
  state.frozen = true;
  await freezeCgroup(f.freezerDir);
  const dumped = (state.dumping = dump(ctx.criuPath, f, state.imagesDir).then(() => {
    p.clock.done('dump');
    trace('src: dump done');
  }));
  dumped.catch(() => undefined); // its failure is read by the pack (or the rollback), which may come later
  // The disk is still from here on: without disk rounds its xattrs are read (started after criu
  // so as not to delay it) while CRIU dumps.
  const xattrs = state.diskRounds ? 'changed' : readXattrs(diskTrees(f));
  if (opts.serial) await dumped;
  return { freezeAt, dumped, xattrs };
}

/** criu dump of the frozen tree into a local dir; the tree stays frozen (rollback = thaw). */
function dump(criuPath: string, f: SourceFacts, imagesDir: string): Promise<void> {
  return runCriu({
    prefix: [],
    criuPath,
    args: dumpArgs({
      pid: f.dumpPid,
      imagesDir,
      netnsInode: netnsInode(f.dumpPid),
      mounts: f.mounts,
      dockerMountTargets: f.dockerMountTargets,
      freezerDir: f.freezerDir,
      ttyKeys: f.prepare.tree.stdio.filter((s) => s.key.startsWith('tty[')).map((s) => s.key),
    }),
    imagesDir,
    logName: 'dump.log',
  });
}

/** tar -> zstd -> chunks -> the destination, with backpressure all the way; then End. */
/**
 * The checkpoint stream: after the disk rounds (`disk`) only what changed since the last one,
 * after the memory pre-copy (`precopied`) only the pages it did not send unchanged.
 */
export async function sendCheckpoint(p: Push, d: Dumping, precopied: PageIndex | undefined, disk: DiskPrecopied | undefined): Promise<CheckpointSent> {
  const { ctx, opts, f, ch, state } = p;
  p.clock.start('transfer');
  const reuse: Reuse | undefined = precopied ? { index: precopied, prefix: PREFIX.reuse } : undefined;
  // For progress: the files were measured before the freeze; the images are written (serial)
  // or about the container's memory.
  const rawTotal = (opts.serial ? treeBytes(state.imagesDir) : f.estimatedBytes) + f.fileBytes;
  const pack = tar.pack();
  const out = new SealedSender({ ch, stream: 'checkpoint', compressLevel: opts.compressLevel, stallMs: ctx.timeouts.stallMs, rawTotal, emit: opts.emit });
  const pool = new BufferPool(MAX_PIECE); // for CRIU's images and file blocks, given back once encoded
  const packing = packCheckpoint({ pack, imagesDir: state.imagesDir, f, xattrs: d.xattrs, dumped: d.dumped, pool, reuse, disk });
  const sizes = await sendPack({ pack, out, pool, packing, quietMs: QUIET_MS });
  trace('src: tar sent');
  const reused = reuse ? `; ${reuse.index.reused} pages reused from the pre-copy, ${reuse.index.sent} sent` : '';
  p.clock.done('transfer', `${out.raw} bytes raw, ${out.wire} on the wire${reused}`);
  return { raw: out.raw, wire: out.wire, sizes };
}

interface PackRequest {
  pack: tar.Pack;
  imagesDir: string;
  f: SourceFacts;
  xattrs: Dumping['xattrs'];
  disk: DiskPrecopied | undefined;
  /** criu dump: the pages go as CRIU writes them until it settles. */
  dumped: Promise<void>;
  pool: BufferPool;
  reuse: Reuse | undefined;
}

/** Writes the whole checkpoint into one tar stream: rootfs diff, volume data, images, log. */
async function packCheckpoint(r: PackRequest): Promise<CheckpointSent['sizes']> {
  const { pack, f } = r;
  const files = await packTrees(pack, diskTrees(f), { sent: r.disk?.sent, live: false, pool: r.pool, xattrs: r.xattrs }, false);
  const rootfs = files.byPrefix.get(PREFIX.rootfs) ?? 0;
  trace('src: files packed');
  const images = await packImages(pack, r.imagesDir, PREFIX.images, r.dumped, r.pool, r.reuse);
  trace('src: images sent');
  await packLog(pack, f.inspect);
  pack.finalize();
  return { images, rootfs, volumes: files.fileBytes - rootfs };
}

/** The container's json-file log (final: the container is frozen), so `docker logs` keeps its history. */
async function packLog(pack: tar.Pack, c: ContainerInspect): Promise<void> {
  if (c.HostConfig.LogConfig?.Type !== 'json-file' || !c.LogPath || !fs.existsSync(c.LogPath)) return;
  const size = fs.statSync(c.LogPath).size;
  if (size === 0) return;
  const header = { name: LOG_ENTRY, type: 'file' as const, size, mode: 0o600 };
  if (size <= MAX_PIECE) {
    // Most logs: one read, no trips through the thread pool while the downtime waits.
    const body = Buffer.alloc(size);
    const fd = fs.openSync(c.LogPath, 'r');
    try {
      if (fs.readSync(fd, body, 0, size, 0) !== size) throw new Error(`${c.LogPath} shrank while it was read`);
    } finally {
      fs.closeSync(fd);
    }
    return packed(pack, header, body);
  }
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    entry.on('error', () => undefined); // reported through the entry callback
    const input = fs.createReadStream(c.LogPath, { start: 0, end: size - 1 });
    input.on('error', reject);
    input.pipe(entry);
  });
}
