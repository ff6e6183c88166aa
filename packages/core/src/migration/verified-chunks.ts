import type { Chunk, End, MigrateRequest } from '../rpc/messages';
import { ChunkVerifier } from '../stream/chunk-stream';
import { MigrationError } from './migration-error';
import { trace } from '../util/trace';

/** Migrate's two sealed chunk streams: the pre-copy (before the freeze), then the checkpoint. */
export type ChunkStream = 'precopy' | 'checkpoint';

function chunkOf(msg: MigrateRequest, stream: ChunkStream): Chunk | undefined {
  if (stream === 'precopy') return msg.body === 'precopy' ? msg.precopy : undefined;
  return msg.body === 'chunk' ? msg.chunk : undefined;
}

function endOf(msg: MigrateRequest, stream: ChunkStream): End | undefined {
  if (stream === 'precopy') return msg.body === 'precopyEnd' ? msg.precopyEnd : undefined;
  return msg.body === 'end' ? msg.end : undefined;
}

/**
 * The payloads of one of Migrate's chunk streams, verified chunk by chunk; its End is verified
 * before the last payload is handed on (a bad stream never reaches the untar's end, so never
 * CRIU), then stored in `got.end`.
 */
export async function* verifiedChunks(
  next: () => Promise<MigrateRequest>,
  got: { end?: End },
  stream: ChunkStream = 'checkpoint',
): AsyncGenerator<Buffer> {
  const verifier = new ChunkVerifier();
  for (;;) {
    const msg = await next();
    const chunk = chunkOf(msg, stream);
    if (chunk) {
      if (chunk.seq === 0) trace(`dst: first ${stream} chunk`);
      yield verifier.verify(chunk);
      continue;
    }
    const end = endOf(msg, stream);
    if (!end) throw new MigrationError('protocol', `unexpected ${msg.body} during the ${stream} transfer`);
    trace(`dst: ${stream} end received`);
    verifier.finish(end);
    got.end = end;
    return;
  }
}
