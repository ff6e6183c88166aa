import type { End, MigrateRequest } from '../rpc/messages';
import { ChunkVerifier } from '../stream/chunk-stream';
import { MigrationError } from './migration-error';

/** The two chunked streams of Migrate: the dump's page-server traffic, then the tar stream. */
const STREAMS = {
  pages: { chunk: 'pages', end: 'pagesEnd', during: 'while receiving pages' },
  tar: { chunk: 'chunk', end: 'end', during: 'during the transfer' },
} as const;

/**
 * The payloads of one stream, verified chunk by chunk; its End is verified before the last
 * payload is handed on (a bad stream never reaches CRIU or the untar), then stored in `got.end`.
 */
export async function* verifiedChunks(
  next: () => Promise<MigrateRequest>,
  stream: keyof typeof STREAMS,
  got: { end?: End },
): AsyncGenerator<Buffer> {
  const s = STREAMS[stream];
  const verifier = new ChunkVerifier();
  for (;;) {
    const msg = await next();
    if (msg.body === 'chunk' || msg.body === 'pages') {
      if (msg.body !== s.chunk) throw new MigrationError('protocol', `unexpected ${msg.body} ${s.during}`);
      yield verifier.verify(msg.body === 'chunk' ? msg.chunk : msg.pages);
    } else if (msg.body === s.end) {
      const end = msg.body === 'end' ? msg.end : msg.pagesEnd;
      verifier.finish(end);
      got.end = end;
      return;
    } else {
      throw new MigrationError('protocol', `unexpected ${msg.body} ${s.during}`);
    }
  }
}
