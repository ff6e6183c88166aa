// Disk rounds -> DiskStored ... -> DiskDone: the container's volumes and upper dir, sent while
// it runs. The first round sends them whole; each later one what changed since the round before
// (files by inode and ctime, large files by block digests, deletions), until a round is small or
// stops shrinking; after the freeze the checkpoint carries only the last delta.
import * as tar from 'tar-stream';
import { packTree, readTreeXattrs, SentTree, type PackStats, type XattrSet } from '../../fsdiff';
import { expectReply } from '../../protocol/channels';
import { MAX_DISK_ROUNDS, MAX_PIECE, PREFIX } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';
import type { DiskRound } from '../../rpc/messages';
import { BufferPool } from '../../stream/buffer-pool';
import { SealedSender } from '../../stream/sealed-sender';
import { trace } from '../../util/trace';
import { CRIU_TEMPORARIES, INTERNAL_PATHS } from '../container-spec';
import type { SourceFacts } from './facts';
import type { Push } from './one-push';
import { sendPack } from './pack-sender';
import { yieldToFreezes } from './freeze-turns';

/** One tree of the container's disk state, as it goes into the stream. */
export interface DiskTree {
  root: string;
  /** Its entries' prefix in the stream (checkpoint-layout.ts). */
  prefix: string;
  overlay: boolean;
  exclude?: string[];
  excludePattern?: RegExp;
}

/** The container's upper dir and its named (and anonymous) volumes. */
export function diskTrees(f: SourceFacts): DiskTree[] {
  const volumes = f.prepare.container.mounts.filter((m) => m.type === 'volume');
  return [
    { root: f.upperDir, prefix: PREFIX.rootfs, overlay: true, exclude: INTERNAL_PATHS, excludePattern: CRIU_TEMPORARIES },
    ...volumes.map((m) => ({ root: m.source, prefix: `${PREFIX.volumes}${m.name}/`, overlay: false })),
  ];
}

/** What the rounds sent, by tree prefix: the checkpoint sends only what changed since. */
export interface DiskPrecopied {
  sent: Map<string, SentTree>;
  rounds: DiskRound[];
}

/** At most this many rounds (the destination allows no more): a tree that keeps changing leaves the rest to the frozen delta. */
const MAX_ROUNDS = MAX_DISK_ROUNDS;
/** A round this small leaves the rest to the frozen delta (a few ms at link speed). */
const SMALL_ROUND = 4 * 1024 * 1024;
/** A round that sent more than this share of the one before is not converging. */
const SHRINKING = 0.8;

export async function precopyDisk(p: Push): Promise<DiskPrecopied> {
  const { opts, f, ch, ctx } = p;
  p.clock.start('disk');
  const trees = diskTrees(f);
  const sent = new Map(trees.map((t) => [t.prefix, new SentTree()]));
  const rounds: DiskRound[] = [];
  for (;;) {
    const started = performance.now();
    const pack = tar.pack();
    const out = new SealedSender({ ch, stream: 'disk', compressLevel: opts.compressLevel, stallMs: ctx.timeouts.stallMs, rawTotal: rounds.length === 0 ? f.fileBytes : 0, emit: opts.emit, yieldTo: yieldToFreezes(ctx.freezeTurns) });
    const pool = new BufferPool(MAX_PIECE);
    const packing = packTrees(pack, trees, { sent, live: true, pool, xattrs: rounds.length > 0 ? 'changed' : undefined });
    const stats = await sendPack({ pack, out, pool, packing, quietMs: 50 });
    const stored = (await expectReply(ch, 'diskStored', ctx.timeouts.stallMs)).diskStored;
    if (stored.bytes !== stats.fileBytes) {
      throw new MigrationError('protocol', `the destination wrote ${stored.bytes} bytes of disk round ${rounds.length + 1}, ${stats.fileBytes} were sent`);
    }
    const round = { bytesRaw: out.raw, bytesWire: out.wire, fileBytes: stats.fileBytes, deleted: stats.deleted, ms: performance.now() - started };
    rounds.push(round);
    trace(`src: disk round ${rounds.length}: ${round.fileBytes} file bytes, ${round.deleted} deleted`);
    const before = rounds.length > 1 ? rounds[rounds.length - 2].bytesRaw : Infinity;
    if (rounds.length >= MAX_ROUNDS || round.bytesRaw <= SMALL_ROUND || round.bytesRaw > SHRINKING * before) break;
  }
  await ch.send({ body: 'diskDone', diskDone: {} });
  const raw = rounds.reduce((n, r) => n + r.bytesRaw, 0);
  p.clock.done('disk', `${rounds.length} rounds, ${raw} bytes raw (last ${rounds[rounds.length - 1].bytesRaw}) sent while ${f.name} runs`);
  return { sent, rounds };
}

/** Each tree's xattrs, by prefix, read now (a getfattr run each; the frozen pass starts them at the freeze). */
export function readXattrs(trees: DiskTree[]): Map<string, Promise<Map<string, XattrSet>>> {
  return new Map(trees.map((t) => {
    const read = readTreeXattrs(t.root);
    read.catch(() => undefined); // awaited when packed; unused if the dump fails
    return [t.prefix, read];
  }));
}

export interface TreesPacking {
  /** What earlier rounds sent, by prefix (absent: the whole tree goes). */
  sent?: Map<string, SentTree>;
  live: boolean;
  pool: BufferPool;
  /**
   * Each tree's xattrs, by prefix, if already being read (the frozen pass without disk rounds
   * starts them at the freeze); 'changed': only those of the paths that go (rounds after the first).
   */
  xattrs?: Map<string, Promise<Map<string, XattrSet>>> | 'changed';
}

/** The trees into `pack`, in order; finalizes it. Resolves with the file bytes and deletes, all trees together. */
export async function packTrees(pack: tar.Pack, trees: DiskTree[], o: TreesPacking, finalize = true): Promise<PackStats & { byPrefix: Map<string, number> }> {
  const total = { entries: 0, fileBytes: 0, deleted: 0, byPrefix: new Map<string, number>() };
  for (const t of trees) {
    const s = await packTree(pack, t.root, t.prefix, {
      overlay: t.overlay, exclude: t.exclude, excludePattern: t.excludePattern, sent: o.sent?.get(t.prefix), live: o.live, pool: o.pool, xattrs: o.xattrs === 'changed' ? o.xattrs : o.xattrs?.get(t.prefix),
    });
    total.entries += s.entries;
    total.fileBytes += s.fileBytes;
    total.deleted += s.deleted;
    total.byPrefix.set(t.prefix, s.fileBytes);
  }
  if (finalize) pack.finalize();
  return total;
}
