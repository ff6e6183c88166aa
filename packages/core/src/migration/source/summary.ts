// The push's summary, as the CLI prints it: what moved, where, how long each phase took.
import type { Prepared, Summary } from '../../rpc/messages';
import type { CheckpointSent } from './checkpoint';
import type { DiskPrecopied } from './disk';
import type { Push } from './one-push';
import type { Precopied } from './precopy';

export interface PushParts {
  prepared: Prepared;
  /** Freeze -> it runs there (0 for a cold move: nothing ran). */
  downtimeMs: number;
  disk?: DiskPrecopied;
  pre?: Precopied;
  /** The checkpoint stream (none for a cold move). */
  sent?: CheckpointSent;
  lazyPages: boolean;
  sourceCleanupError: string;
}

const NOTHING_SENT: CheckpointSent = { raw: 0, wire: 0, sizes: { images: 0, rootfs: 0, volumes: 0 } };

export function summaryOf(p: Push, s: PushParts): Summary {
  const { ctx, opts, f, clock } = p;
  const sent = s.sent ?? NOTHING_SENT;
  const diskRounds = s.disk?.rounds ?? [];
  const before = { raw: (s.pre?.raw ?? 0) + diskRounds.reduce((n, r) => n + r.bytesRaw, 0), wire: (s.pre?.wire ?? 0) + diskRounds.reduce((n, r) => n + r.bytesWire, 0) };
  return {
    container: f.name,
    sourceNode: ctx.nodeName,
    destinationNode: s.prepared.nodeName,
    destinationContainerId: s.prepared.containerId,
    downtimeMs: s.downtimeMs,
    totalMs: performance.now() - clock.t0,
    bytesRaw: before.raw + sent.raw,
    bytesWire: before.wire + sent.wire,
    precopyBytesRaw: s.pre?.raw ?? 0,
    precopyBytesWire: s.pre?.wire ?? 0,
    pagesReused: s.pre?.index.reused ?? 0,
    pagesSent: s.pre?.index.sent ?? 0,
    criuImageBytes: sent.sizes.images,
    rootfsBytes: sent.sizes.rootfs,
    volumeBytes: sent.sizes.volumes,
    phaseMs: clock.phaseMs,
    sourceKept: opts.keepSource,
    sourceCleanupError: s.sourceCleanupError,
    compressLevel: opts.compressLevel,
    pipelined: !opts.serial,
    lazyPages: s.lazyPages,
    diskRounds,
    frozenBytesRaw: sent.raw,
    frozenBytesWire: sent.wire,
    cold: f.cold,
  };
}
