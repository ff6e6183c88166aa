import type { End, MigrateRequest } from '../rpc/messages';
import { ChunkVerifier } from '../stream/chunk-stream';
import { MigrationError } from './migration-error';
import { trace } from '../util/trace';

/**
 * The payloads of Migrate's chunk stream, verified chunk by chunk; its End is verified before the
 * last payload is handed on (a bad stream never reaches the untar's end, so never CRIU), then
 * stored in `got.end`.
 */
export async function* verifiedChunks(next: () => Promise<MigrateRequest>, got: { end?: End }): AsyncGenerator<Buffer> {
  const verifier = new ChunkVerifier();
  for (;;) {
    const msg = await next();
    if (msg.body === 'chunk') {
      if (msg.chunk.seq === 0) trace('dst: first chunk');
      yield verifier.verify(msg.chunk);
    } else if (msg.body === 'end') {
      trace('dst: end received');
      verifier.finish(msg.end);
      got.end = msg.end;
      return;
    } else {
      throw new MigrationError('protocol', `unexpected ${msg.body} during the transfer`);
    }
  }
}
