// Migrate's one bidirectional stream, as each end sees it: the source sends requests and reads
// replies, the destination reads requests and sends replies. The agent adapts gRPC's duplex call
// to these (packages/agent/src/grpc-channels.ts); tests use fakes.
import type { Chunk, End, MigrateReply, MigrateRequest } from '../rpc/messages';
import { MigrationError } from './migration-error';
import { within } from './within';

/** The source's end: requests out, replies in. */
export interface SourceChannel {
  /** Resolves once the message is handed over and the transport can take more. */
  send(req: MigrateRequest): Promise<void>;
  /** The next reply; rejects with the destination's error. */
  reply(): Promise<MigrateReply>;
  /** Ends the call (the destination rolls back if it has not committed). */
  cancel(): void;
  /** Half-closes after Commit. */
  close(): void;
}

/** The destination's end: replies out, requests in. */
export interface DestinationChannel {
  send(reply: MigrateReply): void;
  requests: AsyncIterator<MigrateRequest>;
}

/** The next reply, which must be `body` and come within `timeoutMs`. */
export async function expectReply<K extends MigrateReply['body']>(
  ch: SourceChannel,
  body: K,
  timeoutMs: number,
): Promise<Extract<MigrateReply, { body: K }>> {
  const r = await within(timeoutMs, `the destination's ${body} reply`, ch.reply());
  if (r.body !== body) throw new MigrationError('protocol', `destination sent ${r.body}, expected ${body}`);
  return r as Extract<MigrateReply, { body: K }>;
}

/** The next request; the stream ending first is the source going away before `what`. */
export async function nextRequest(ch: DestinationChannel, what: string): Promise<MigrateRequest> {
  const r = await ch.requests.next();
  if (r.done) throw new MigrationError('aborted', `the source closed the stream before ${what}`);
  return r.value;
}

/**
 * Migrate's sealed chunk streams (stream/sealed-sender.ts, sealed-receiver.ts): the disk rounds
 * (one stream each), the memory pre-copy, then the checkpoint. Each is chunks, then an End that
 * seals them.
 */
export type SealedStream = 'disk' | 'precopy' | 'checkpoint';

/** A chunk of `stream` as a request. */
export function chunkRequest(stream: SealedStream, chunk: Chunk): MigrateRequest {
  if (stream === 'disk') return { body: 'disk', disk: chunk };
  return stream === 'precopy' ? { body: 'precopy', precopy: chunk } : { body: 'chunk', chunk };
}

/** The End of `stream` as a request. */
export function endRequest(stream: SealedStream, end: End): MigrateRequest {
  if (stream === 'disk') return { body: 'diskEnd', diskEnd: end };
  return stream === 'precopy' ? { body: 'precopyEnd', precopyEnd: end } : { body: 'end', end };
}

/** A request read during `stream`: one of its chunks or its End; anything else is out of order. */
export function sealedPart(stream: SealedStream, msg: MigrateRequest): { chunk: Chunk } | { end: End } {
  if (stream === 'disk') {
    if (msg.body === 'disk') return { chunk: msg.disk };
    if (msg.body === 'diskEnd') return { end: msg.diskEnd };
    throw new MigrationError('protocol', `unexpected ${msg.body} during a disk round`);
  }
  if (stream === 'precopy') {
    if (msg.body === 'precopy') return { chunk: msg.precopy };
    if (msg.body === 'precopyEnd') return { end: msg.precopyEnd };
    throw new MigrationError('protocol', `unexpected ${msg.body} during the pre-copy`);
  }
  if (msg.body === 'chunk') return { chunk: msg.chunk };
  if (msg.body === 'end') return { end: msg.end };
  throw new MigrationError('protocol', `unexpected ${msg.body} during the transfer`);
}
