// Disk rounds, the destination's end: each round's tar stream of what changed in the source's
// volumes and upper dir, applied to the target's (which nothing uses until the restore; a
// rollback removes them with the target), then DiskStored; DiskDone ends the rounds.
import { Readable } from 'node:stream';
import { nextRequest, type DestinationChannel } from '../../protocol/channels';
import type { MigrateRequest, Prepare } from '../../rpc/messages';
import { decompressed } from '../../stream/chunk-stream';
import { payloads, sealedChunks } from '../../stream/sealed-receiver';
import { trace } from '../../util/trace';
import { MAX_DISK_ROUNDS } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';
import { EntryRouter } from './checkpoint';
import type { Target } from './target';
import { untar } from './untar';

/**
 * Decompressed chunks read ahead of the untar (Readable.from's default: 16). The disk is what
 * bounds a round here, so more only kept 1 MiB Buffers alive long enough for V8 to move them to
 * its old generation, where they stay until a full GC (see packages/agent/src/call-queue-depth.ts).
 */
const READ_AHEAD = 1;

export async function receiveDisk(ch: DestinationChannel, prepare: Prepare, t: Target): Promise<void> {
  if (!prepare.diskRounds) return;
  const trees = t.cold ? await t.coldTrees() : t.trees();
  for (let round = 1; ; round++) {
    const first = await nextRequest(ch, 'the end of the disk rounds');
    if (first.body === 'diskDone') return;
    if (round > MAX_DISK_ROUNDS) throw new MigrationError('protocol', `more than ${MAX_DISK_ROUNDS} disk rounds`);
    const route = new EntryRouter({ trees, fileBytes: prepare.fileBytes }); // each round may send the trees whole
    // The round's first message is read: its stream starts with it.
    let pending: MigrateRequest | undefined = first;
    const next = (): Promise<MigrateRequest> => {
      const r = pending;
      pending = undefined;
      return r ? Promise.resolve(r) : nextRequest(ch, `the end of disk round ${round}`);
    };
    const before = { entries: trees.entries, bytes: trees.fileBytes };
    await untar(Readable.from(decompressed(payloads(sealedChunks('disk', next)), prepare.compressLevel), { highWaterMark: READ_AHEAD }), (h, body) => route.entry(h, body));
    const stored = { entries: trees.entries - before.entries, bytes: trees.fileBytes - before.bytes };
    trace(`dst: disk round ${round} applied (${stored.bytes} file bytes)`);
    ch.send({ body: 'diskStored', diskStored: stored });
  }
}
