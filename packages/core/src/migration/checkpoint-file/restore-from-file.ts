// `restore FILE`: a checkpoint file played into the destination's serve phases (the same checks,
// target container, restore and commit as a push into this host). Before anything is created:
// the header's format version, the host's fit (incompatibility) and the whole file's digest.
import os from 'node:os';
import { criuVersion } from '../../criu/criu-check';
import { CheckpointFileReader, incompatibility } from '../../protocol/checkpoint-file';
import { MigrationError } from '../../protocol/migration-error';
import { migrateCodec } from '../../rpc/migrate-codec';
import { PROTOCOL_VERSION } from '../../version';
import type { DestinationContext } from '../context';
import { serveMigration } from '../destination/serve';
import { imageScratch, withImageFile } from './checkpoint-image';
import { fileDestinationChannel } from './file-destination-channel';

export interface RestoreOptions {
  /** Absolute path on this host. */
  file: string;
  /** The new container's name (default: the checkpointed container's). */
  name?: string;
}

export interface RestoreResult {
  container: string;
  containerId: string;
  appPid: number;
  restoreMs: number;
  totalMs: number;
}

export async function restoreFromFile(ctx: DestinationContext, o: RestoreOptions): Promise<RestoreResult> {
  const t0 = performance.now();
  let reader: CheckpointFileReader;
  try {
    reader = new CheckpointFileReader(o.file, migrateCodec());
  } catch (err) {
    if (err instanceof MigrationError) throw err;
    throw new MigrationError('precondition', `cannot open ${o.file} on ${ctx.nodeName}: ${(err as Error).message}`);
  }
  try {
    const h = reader.header;
    const why = incompatibility(h, { arch: os.arch(), criuVersion: await criuVersion(ctx.criuPath), protocolVersion: PROTOCOL_VERSION });
    if (why) throw new MigrationError('precondition', `${o.file} cannot be restored on ${ctx.nodeName}: ${why}`);
    reader.verify();
    const ch = fileDestinationChannel(reader, o.name);
    await serveMigration(ctx, ch);
    const prepared = ch.replies.find((r) => r.body === 'prepared');
    const restored = ch.replies.find((r) => r.body === 'restored');
    if (prepared?.body !== 'prepared' || restored?.body !== 'restored') throw new Error('the restore ended without Prepared and Restored');
    const container = o.name ?? h.container;
    ctx.log(`restored ${container} from ${o.file} (checkpoint of ${h.container} on ${h.host})`);
    return { container, containerId: prepared.prepared.containerId, appPid: restored.restored.appPid, restoreMs: restored.restored.restoreMs,
      totalMs: performance.now() - t0 };
  } finally {
    reader.close();
  }
}

/** `restore --image NAME`: the image's checkpoint file, restored as a file (from the base image, as it was). */
export function restoreFromImage(ctx: DestinationContext, o: { image: string; name?: string }): Promise<RestoreResult> {
  return withImageFile(ctx.docker, o.image, imageScratch(ctx.stateDir), (file) => restoreFromFile(ctx, { file, name: o.name }));
}
