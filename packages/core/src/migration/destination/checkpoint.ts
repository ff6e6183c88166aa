// Chunk* -> End, the destination's end: chunks verified, decompressed as fast as the untar
// consumes them, and each tar entry routed to where it belongs: CRIU's images (the pages in
// pieces while the source still dumps; a pages image that is a segment of the pre-copy store
// takes its file and gets the changed pages written in place, others copy runs of the store),
// the rootfs diff, the volumes' data, the container's log.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type * as tar from 'tar-stream';
import { FlatFileApplier, stripPrefix, type EntryBody } from '../../fsdiff';
import { readPax } from '../../fsdiff/entry-checks';
import { resumingOnError } from '../../fsdiff/tar-format';
import { nextRequest, type DestinationChannel } from '../../protocol/channels';
import { decodeRuns, LOG_ENTRY, MAX_REUSE_ENTRY, PAGE_SIZE, PAX, PREFIX, withGrowth } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';
import type { End, Prepare } from '../../rpc/messages';
import { decompressed } from '../../stream/chunk-stream';
import { payloads, sealedChunks } from '../../stream/sealed-receiver';
import { trace } from '../../util/trace';
import type { PrecopyStore } from './precopy-store';
import type { Target, TreeAppliers } from './target';
import { untar } from './untar';

/** Receives the stream into the images dir, the container's rootfs and its volumes. */
export async function receiveCheckpoint(ch: DestinationChannel, prepare: Prepare, t: Target): Promise<{ end: End; receiveMs: number }> {
  const started = performance.now();
  const target = t.started();
  // CRIU's images: the memory Prepare announced, with room to grow (checkpoint-layout.ts withGrowth).
  const images = new FlatFileApplier(t.imagesDir, withGrowth(prepare.estimatedBytes));
  const route = new EntryRouter({ trees: t.trees(), fileBytes: prepare.fileBytes, images: { applier: images, store: t.store, logPath: target.LogPath } });
  const got: { end?: End } = {};
  const chunks = sealedChunks('checkpoint', () => nextRequest(ch, 'the end of the stream'), got);
  await untar(Readable.from(decompressed(payloads(chunks), prepare.compressLevel)), (h, body) => route.entry(h, body));
  const end = got.end;
  if (!end) throw new MigrationError('protocol', 'the tar stream ended before the End message');
  trace('dst: untar done');
  await images.finish();
  await t.trees().finish();
  return { end, receiveMs: performance.now() - started };
}

interface RouterSetup {
  trees: TreeAppliers;
  /** The file bytes Prepare announced: the stream's trees and log may take withGrowth of it. */
  fileBytes: number;
  /** The checkpoint's own entries; a disk round has none. */
  images?: {
    applier: FlatFileApplier;
    store: PrecopyStore | undefined;
    /** The target's json-file log ('' without one). */
    logPath: string;
  };
}

/** Sends each tar entry where its prefix (checkpoint-layout.ts) says it belongs. One per stream. */
export class EntryRouter {
  /** The trees' body bytes before this stream. */
  private readonly before: number;
  private logBytes = 0;

  constructor(private readonly s: RouterSetup) {
    this.before = s.trees.bodyBytes;
  }

  async entry(header: tar.Header, body: EntryBody): Promise<void> {
    const { trees, images } = this.s;
    const rootfs = stripPrefix(header, PREFIX.rootfs);
    if (rootfs) {
      this.claimFileBytes(header);
      return trees.rootfs.apply(rootfs, body);
    }
    if (header.name.startsWith(PREFIX.volumes)) {
      this.claimFileBytes(header);
      const name = header.name.slice(PREFIX.volumes.length).split('/')[0];
      const applier = trees.volume(name);
      const entry = stripPrefix(header, `${PREFIX.volumes}${name}/`);
      if (!applier || !entry) throw new MigrationError('protocol', `tar entry for unknown volume: ${header.name}`);
      return applier.apply(entry, body);
    }
    if (images) {
      if (header.name === LOG_ENTRY && header.type === 'file') {
        this.logBytes += this.claimFileBytes(header);
        return appendLog(images.logPath, body);
      }
      const reused = stripPrefix(header, PREFIX.reuse);
      if (reused) return this.reuse(reused, body);
      const image = stripPrefix(header, PREFIX.images);
      if (image) return this.image(image, body);
    }
    throw new MigrationError('protocol', `unexpected tar entry ${header.name}${images ? '' : ' in a disk round'}`);
  }

  /** Refuses, before its body is written, an entry that takes the stream's files past their bound; returns its size. */
  private claimFileBytes(header: tar.Header): number {
    const size = header.size ?? 0;
    const max = withGrowth(this.s.fileBytes);
    const taken = this.s.trees.bodyBytes - this.before + this.logBytes;
    if (size > max - taken) {
      throw new MigrationError('protocol', `tar entry ${header.name} (${size} bytes) takes the stream past ${max} bytes of files ` +
        `(Prepare announced ${this.s.fileBytes}; twice that and 256 MiB are allowed)`);
    }
    return size;
  }

  /**
   * A reuse entry: pages of a CRIU pages image that the pre-copy store holds: the whole segment
   * that the image starts as (adopted), or runs of store pages, copied from it.
   */
  private async reuse(header: tar.Header, body: EntryBody): Promise<void> {
    const store = this.s.images?.store;
    const images = this.checkpointImages();
    const bytes = await smallBody(header, body, MAX_REUSE_ENTRY);
    if (!store) throw new MigrationError('protocol', `reuse entry ${header.name} without a pre-copy`);
    const segment = paxNumber(header, PAX.segment);
    if (segment !== undefined) {
      const taken = store.take(segment);
      return images.adopt(header.name, taken.file, taken.bytes);
    }
    const runs = decodeRuns(bytes);
    images.appendWith(header.name, store.check(runs) * PAGE_SIZE, (fd) => store.copyRuns(runs, fd));
  }

  /** A CRIU image entry: appended to the file, or (an adopted pages image) written at an offset, given a tail, or sized. */
  private async image(header: tar.Header, body: EntryBody): Promise<void> {
    const images = this.checkpointImages();
    const offset = paxNumber(header, PAX.offset);
    if (offset !== undefined) return resumingOnError(body, () => images.writeAt(header.name, offset, body));
    const tail = paxNumber(header, PAX.tail);
    const size = paxNumber(header, PAX.size);
    if (tail === undefined && size === undefined) return images.apply(header, body);
    await smallBody(header, body, 0);
    if (tail !== undefined) images.startTail(header.name, tail);
    if (size !== undefined) images.setSize(header.name, size);
  }

  private checkpointImages(): FlatFileApplier {
    const images = this.s.images?.applier;
    if (!images) throw new Error('no images in a disk round');
    return images;
  }
}

/** A number in one of our pax records of an entry, if it has that record. */
function paxNumber(header: tar.Header, key: string): number | undefined {
  const text = readPax(header.name, header.pax)[key];
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(text)) throw new MigrationError('protocol', `tar entry ${header.name}: ${key} is not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

/** The whole body of an entry that must be small (checked before it is read). */
async function smallBody(header: tar.Header, body: EntryBody, max: number): Promise<Buffer> {
  if (header.type !== 'file' || header.size > max) {
    body.resume();
    throw new MigrationError('protocol', `tar entry ${header.name} is not a file of at most ${max} bytes`);
  }
  const parts: Buffer[] = [];
  for await (const data of body) parts.push(data as Buffer);
  return Buffer.concat(parts);
}

/** Docker's json-file logger appends (O_APPEND): old lines land before the restored app's. */
async function appendLog(logPath: string, body: EntryBody): Promise<void> {
  if (!logPath) {
    for await (const _ of body) void _; // no json-file log here: drop the history
    return;
  }
  const out = await fs.promises.open(logPath, 'a');
  try {
    for await (const data of body) await out.write(data as Buffer);
  } finally {
    await out.close();
  }
}
