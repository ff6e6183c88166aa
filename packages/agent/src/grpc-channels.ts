// Adapters between gRPC calls and the migration code's small channel interfaces.
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import {
  rpcErrorMessage,
  type DestinationChannel,
  type MigrateReply,
  type MigrateRequest,
  type SourceChannel,
} from '@livemig/core';
import { DISK_QUEUE_DEPTH, queueDepth, type QueueDepth } from './call-queue-depth';

/** The queue depth of a call's side, or a warning that it stays as gRPC-js made it. */
function callQueueDepth(call: Parameters<typeof queueDepth>[0], side: 'readable' | 'writable'): QueueDepth | undefined {
  const depth = queueDepth(call, side);
  if (!depth) console.log(`${new Date().toISOString()} warning: cannot set a Migrate call's ${side} queue depth (Node's stream internals changed); the agents will peak higher in memory`);
  return depth;
}

/** Source side: the client end of Migrate. Replies queue for reply() as they come. */
export function sourceChannel(call: grpc.ClientDuplexStream<MigrateRequest, MigrateReply>, address: string): SourceChannel {
  const destinationError = (err: grpc.ServiceError): Error => new Error(`destination: ${rpcErrorMessage(err, address)}`);
  let failure: Error | undefined;
  let ended = false;
  const queued: MigrateReply[] = [];
  let wake: (() => void) | undefined;
  const depth = callQueueDepth(call, 'writable');
  call.on('data', (r: MigrateReply) => {
    queued.push(r);
    wake?.();
  });
  call.on('error', (err: grpc.ServiceError) => {
    failure = destinationError(err);
    wake?.();
  });
  call.on('end', () => {
    ended = true;
    wake?.();
  });
  return {
    async send(req) {
      if (failure) throw failure;
      // A disk round's chunks queue shallow, the rest as gRPC-js queues them (call-queue-depth.ts).
      depth?.set(req.body === 'disk' ? DISK_QUEUE_DEPTH.source : depth.initial);
      if (!call.write(req)) {
        // once() rejects with the raw gRPC error if the call fails meanwhile.
        await once(call, 'drain').catch((err: grpc.ServiceError) => {
          throw failure ?? destinationError(err);
        });
      }
    },
    async reply() {
      for (;;) {
        const r = queued.shift();
        if (r) return r;
        if (failure) throw failure;
        if (ended) throw new Error('destination closed the stream');
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    cancel: () => call.cancel(),
    close: () => call.end(),
  };
}

/**
 * Destination side: the server end of Migrate. A cancelled call ends the request iterator.
 * (Not Promise.race with a long-lived "cancelled" promise: every race would leave a reaction on
 * it that keeps its result, a 1 MiB chunk, alive until the call ends.)
 */
export function destinationChannel(call: grpc.ServerDuplexStream<MigrateRequest, MigrateReply>): DestinationChannel {
  const depth = callQueueDepth(call, 'readable');
  const inner = call[Symbol.asyncIterator]() as AsyncIterator<MigrateRequest>;
  const done: IteratorResult<MigrateRequest> = { done: true, value: undefined };
  let cancelled = false;
  let wake: ((r: IteratorResult<MigrateRequest>) => void) | null = null;
  call.on('cancelled', () => {
    cancelled = true;
    wake?.(done);
  });
  return {
    send: (reply) => {
      call.write(reply);
    },
    requests: {
      next: () => {
        if (cancelled) return Promise.resolve(done);
        return new Promise((resolve, reject) => {
          wake = resolve;
          inner.next().then(
            (r) => {
              wake = null;
              // While a disk round streams, fewer chunks are read ahead (call-queue-depth.ts).
              if (!r.done) depth?.set(r.value.body === 'disk' ? DISK_QUEUE_DEPTH.destination : depth.initial);
              resolve(r);
            },
            reject,
          );
        });
      },
    },
  };
}
