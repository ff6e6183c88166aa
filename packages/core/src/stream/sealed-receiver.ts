// The destination's side of a sealed chunk stream (the pre-copy or the checkpoint): one loop
// for both. Each chunk is verified as it comes (order, CRC chain); the End is verified before
// the generator returns, so a consumer that only acts at the end of its input (the untar's
// finish, the store's seal) never acts on a bad stream.
import type { Chunk, End, MigrateRequest } from '../rpc/messages';
import { sealedPart, type SealedStream } from '../protocol/channels';
import { trace } from '../util/trace';
import { ChunkVerifier } from './chunk-stream';

/**
 * The verified chunks of `stream`, read with `next` up to its End, which is then stored in
 * `got.end` (when given).
 */
export async function* sealedChunks(
  stream: SealedStream,
  next: () => Promise<MigrateRequest>,
  got: { end?: End } = {},
): AsyncGenerator<Chunk> {
  const verifier = new ChunkVerifier();
  for (;;) {
    const part = sealedPart(stream, await next());
    if ('end' in part) {
      if (stream === 'checkpoint') trace('dst: end received');
      verifier.finish(part.end);
      got.end = part.end;
      return;
    }
    if (stream === 'checkpoint' && part.chunk.seq === 0) trace('dst: first chunk');
    verifier.verify(part.chunk);
    yield part.chunk;
  }
}

/** The payloads of `chunks`, for a consumer of bytes (the checkpoint's untar). */
export async function* payloads(chunks: AsyncIterable<Chunk>): AsyncGenerator<Buffer> {
  for await (const c of chunks) yield c.data;
}
