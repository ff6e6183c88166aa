import { describe, expect, it } from 'vitest';
import type { SourceChannel } from '../protocol/channels';
import type { MigrateRequest } from '../rpc/messages';
import { decompressed } from './chunk-stream';
import { SealedSender } from './sealed-sender';

describe('SealedSender', () => {
  it('copies what it is given before it yields: the caller may refill its buffer at once', async () => {
    const sent: MigrateRequest[] = [];
    const ch = { send: async (r: MigrateRequest) => void sent.push(r) } as unknown as SourceChannel;
    let turns = 0;
    const out = new SealedSender({
      ch, stream: 'precopy', compressLevel: 1, stallMs: 1000, rawTotal: 0, emit: () => undefined,
      yieldTo: () => new Promise((resolve) => setTimeout(() => resolve(void turns++), 5)),
    });
    const buf = Buffer.alloc(1 << 20);
    const want: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      buf.fill(65 + i);
      want.push(Buffer.from(buf));
      const pushed = out.push(buf);
      buf.fill(0); // as a pool's next read would
      await pushed;
    }
    await out.end();
    expect(turns).toBe(3);
    const chunks = sent.flatMap((r) => (r.body === 'precopy' ? [r.precopy.data] : []));
    const got: Buffer[] = [];
    for await (const b of decompressed((async function* () { yield* chunks; })(), 1)) got.push(b);
    expect(Buffer.concat(got).equals(Buffer.concat(want))).toBe(true);
  });
});
