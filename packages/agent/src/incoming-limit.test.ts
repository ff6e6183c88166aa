import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { DockerClient, MigrateReply, MigrateRequest } from '@livemig/core';
import { describe, expect, it, vi } from 'vitest';
import { defaultConfig, type AgentConfig } from './agent-config';
import { IncomingLimit } from './incoming-limit';
import { agentHandlers } from './server';

describe('IncomingLimit', () => {
  it('gives at most max slots; a slot released (once, however often called) can be taken again', () => {
    const limit = new IncomingLimit(2);
    const a = limit.take();
    const b = limit.take();
    expect(a).not.toBeNull();
    expect(b).not.toBeNull();
    expect(limit.take()).toBeNull();
    a?.();
    a?.();
    expect(limit.take()).not.toBeNull();
    expect(limit.take()).toBeNull();
  });

  it('refuses a cap that is not a whole number of 1 or more', () => {
    expect(() => new IncomingLimit(0)).toThrow(/--max-incoming must be a whole number/);
    expect(() => new IncomingLimit(1.5)).toThrow(/not 1.5/);
  });
});

/** A Migrate call that sends nothing until told: `errors` collects the statuses it is ended with. */
function migrateCall(): { call: grpc.ServerDuplexStream<MigrateRequest, MigrateReply>; errors: Array<Partial<grpc.StatusObject>>; hangUp: () => void } {
  const stream = new PassThrough({ objectMode: true });
  const errors: Array<Partial<grpc.StatusObject>> = [];
  stream.on('error', (e: Partial<grpc.StatusObject>) => errors.push(e));
  return { call: stream as unknown as grpc.ServerDuplexStream<MigrateRequest, MigrateReply>, errors, hangUp: () => stream.end() };
}

describe("the agent's Migrate handler", () => {
  it('refuses a migration beyond --max-incoming with FAILED_PRECONDITION, before reading it; a slot frees when one ends', async () => {
    const config: AgentConfig = {
      ...defaultConfig(),
      nodeName: 'node2',
      transport: { insecure: true },
      timeouts: { prepareMs: 1000, stallMs: 1000, restoreMs: 1000, commitMs: 1000, turnBeforeCopyMs: 1000 },
      access: { authenticated: false, peers: null },
      specPolicy: { allowBindPrefixes: [], allowCaps: [] },
      maxIncoming: 1,
    };
    const migrate = agentHandlers(config, {} as DockerClient).migrate as (c: grpc.ServerDuplexStream<MigrateRequest, MigrateReply>) => void;
    const first = migrateCall();
    migrate(first.call); // waits for its Prepare: holds the only slot
    const second = migrateCall();
    migrate(second.call);
    expect(second.errors).toEqual([{ code: grpc.status.FAILED_PRECONDITION, details: 'node2 already receives 1 migration (its --max-incoming): try again once one has ended' }]);
    first.hangUp(); // ends without a Prepare: refused, and its slot is free again
    await vi.waitFor(() => expect(first.errors).toHaveLength(1));
    const third = migrateCall();
    migrate(third.call);
    await new Promise((r) => setTimeout(r, 20));
    expect(third.errors).toEqual([]);
    third.hangUp();
    await vi.waitFor(() => expect(third.errors).toHaveLength(1));
  });
});
