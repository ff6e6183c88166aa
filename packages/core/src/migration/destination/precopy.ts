// Precopy* -> PrecopyEnd -> PrecopyStored, the destination's end: the container's memory, read
// on the source while it still runs, verified, decompressed, into the pre-copy store. Stored, it
// is said so: the source freezes only then, so that a failure here never freezes anything, and
// so that the store's last writes do not take CPU from criu dump.
import fs from 'node:fs';
import path from 'node:path';
import { nextRequest, type DestinationChannel } from '../../protocol/channels';
import type { Prepare } from '../../rpc/messages';
import { FrameDecompressor } from '../../stream/chunk-stream';
import { sealedChunks } from '../../stream/sealed-receiver';
import { trace } from '../../util/trace';
import { PrecopyStore } from './precopy-store';
import type { Target } from './target';

export async function receivePrecopy(ch: DestinationChannel, prepare: Prepare, target: Target): Promise<void> {
  if (prepare.precopyBytes === 0) return;
  const dir = path.join(target.scratch, 'precopy');
  fs.mkdirSync(dir);
  const store = (target.store = new PrecopyStore(dir, prepare.precopyBytes));
  const frames = prepare.compressLevel !== 0 ? new FrameDecompressor() : undefined;
  for await (const chunk of sealedChunks('precopy', () => nextRequest(ch, 'the end of the pre-copy'))) {
    const pages = frames ? frames.decompress(chunk.data) : chunk.data;
    if (pages.length > 0) store.append(chunk.segment, pages);
  }
  store.seal();
  trace(`dst: precopy stored (${store.pages} pages)`);
  ch.send({ body: 'precopyStored', precopyStored: { pages: store.pages } });
}
