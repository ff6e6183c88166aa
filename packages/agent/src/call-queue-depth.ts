// How many messages a Migrate call queues inside the agent, each way. gRPC-js gives its streams
// Node's object-mode default, 16 messages; a disk round's are 1 MiB chunks. Why fewer: V8 frees
// a Buffer's memory cheaply only while the Buffer is young (a scavenge runs every ~16-32 MiB of
// new Buffers); one that lives longer is moved to the old generation and its memory stays until
// a full GC, which V8 starts only after 64 MiB more of such memory. Each chunk costs ~3 new
// Buffers per side (ours, protobuf's, gRPC's framing; HTTP/2 reads, gRPC's message, zstd's
// output), so 16 queued chunks outlived two scavenges: the agents peaked at 215-253 MiB with the
// 2 GiB volume, 50-130 MiB of it dead chunks. A few queued messages keep the transport busy
// (HTTP/2's 16 MiB windows stay as they are).
import type { Readable, Writable } from 'node:stream';

/** Messages a Migrate call queues for the transport (source) and for the reader (destination). */
export const CALL_QUEUE_DEPTH = { source: 4, destination: 2 };

type StreamState = { highWaterMark?: unknown } | undefined;

/**
 * Sets how many messages `stream` queues before write() returns false (writable) or before it
 * stops asking the transport for more (readable). Node has no public setter once a stream exists
 * (gRPC-js makes them): the stream's state is set, if it has the field Node 20 has. Returns
 * whether it could (false: the default depth stays; the caller warns).
 */
export function limitQueueDepth(stream: Readable | Writable, side: 'readable' | 'writable', messages: number): boolean {
  if (!Number.isInteger(messages) || messages < 1) throw new RangeError(`a queue depth is a positive integer, not ${messages}`);
  const s = stream as unknown as { _readableState?: StreamState; _writableState?: StreamState };
  const state = side === 'readable' ? s._readableState : s._writableState;
  if (!state || typeof state.highWaterMark !== 'number') return false;
  state.highWaterMark = messages;
  return true;
}
