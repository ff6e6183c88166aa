// How many messages a Migrate call queues inside the agent, each way, while a disk round streams.
// gRPC-js gives its streams Node's object-mode default, 16 messages; a disk round's are 1 MiB
// chunks. Why fewer: V8 frees a Buffer's memory cheaply only while the Buffer is young (a
// scavenge runs every ~16-32 MiB of new Buffers); one that lives longer is moved to the old
// generation and its memory stays until a full GC, which V8 starts only after 64 MiB more of
// such memory. Each chunk costs ~3 new Buffers per side (ours, protobuf's, gRPC's framing; HTTP/2
// reads, gRPC's message, zstd's output), so 16 queued chunks outlived two scavenges: the agents
// peaked at 199-253 MiB with the 2 GiB volume, 30-130 MiB of it dead chunks. A disk round is
// bounded by the disks (~100 MB/s), which a few queued messages keep busy. The memory streams
// keep gRPC's depth: they run at link speed, where a queue of 4 that must drain before it refills
// can leave the link idle between drains; with 4 and 2 on every stream, 1 GiB --serial pushes
// (their transfer inside the downtime) were frozen 6.1-6.3 s against 3.9-6.1 s with 16: within
// this VM's noise, but their peaks were under 200 MiB anyway, so they are left as they were.
import type { Readable, Writable } from 'node:stream';

/** Messages a Migrate call queues during a disk round: for the transport (source), for the reader (destination). */
export const DISK_QUEUE_DEPTH = { source: 4, destination: 2 };

type StreamState = { highWaterMark?: unknown };

/** One side of a stream's queue depth, settable after the stream was made. */
export interface QueueDepth {
  /** The depth the stream was made with. */
  readonly initial: number;
  /** From now on, write() returns false (writable) / the stream stops asking for more (readable) at `messages`. */
  set(messages: number): void;
}

/**
 * The queue depth of `stream`'s `side`. Node has no public setter once a stream exists (gRPC-js
 * makes them): the stream's state is set, if it has the field Node 20 has; undefined if not
 * (the caller warns; the depth stays as made).
 */
export function queueDepth(stream: Readable | Writable, side: 'readable' | 'writable'): QueueDepth | undefined {
  const s = stream as unknown as { _readableState?: StreamState; _writableState?: StreamState };
  const state = side === 'readable' ? s._readableState : s._writableState;
  if (!state || typeof state.highWaterMark !== 'number') return undefined;
  const initial = state.highWaterMark;
  return {
    initial,
    set(messages: number): void {
      if (!Number.isInteger(messages) || messages < 1) throw new RangeError(`a queue depth is a positive integer, not ${messages}`);
      state.highWaterMark = messages;
    },
  };
}
