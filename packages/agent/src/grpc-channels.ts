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

/** Source side: the client end of Migrate. */
export function sourceChannel(call: grpc.ClientDuplexStream<MigrateRequest, MigrateReply>, address: string): SourceChannel {
  let failure: Error | undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    call.on('error', (err: grpc.ServiceError) => {
      failure = new Error(`destination: ${rpcErrorMessage(err, address)}`);
      reject(failure);
    });
  });
  failed.catch(() => undefined);
  const replies = call[Symbol.asyncIterator]() as AsyncIterator<MigrateReply>;
  return {
    async send(req) {
      if (failure) throw failure;
      if (!call.write(req)) await Promise.race([once(call, 'drain'), failed]);
    },
    async reply() {
      const r = await Promise.race([replies.next(), failed]);
      if (r.done) throw failure ?? new Error('destination closed the stream');
      return r.value;
    },
    cancel: () => call.cancel(),
    close: () => call.end(),
  };
}

/** Destination side: the server end of Migrate. A cancelled call ends the request iterator. */
export function destinationChannel(call: grpc.ServerDuplexStream<MigrateRequest, MigrateReply>): DestinationChannel {
  const inner = call[Symbol.asyncIterator]() as AsyncIterator<MigrateRequest>;
  const cancelled = new Promise<IteratorResult<MigrateRequest>>((resolve) =>
    call.on('cancelled', () => resolve({ done: true, value: undefined })),
  );
  return {
    send: (reply) => {
      call.write(reply);
    },
    requests: { next: () => Promise.race([inner.next(), cancelled]) },
  };
}
