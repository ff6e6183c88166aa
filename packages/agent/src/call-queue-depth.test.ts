import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { limitQueueDepth } from './call-queue-depth';

/** An object-mode duplex as gRPC-js makes its calls: a writer that takes 10 ms a message, a reader that produces on demand. */
function call(): { d: Duplex; reads: () => number } {
  let reads = 0;
  const d = new Duplex({
    objectMode: true,
    read() {
      reads++;
      this.push({ n: reads });
    },
    write(_chunk, _enc, cb) {
      setTimeout(cb, 10);
    },
  });
  return { d, reads: () => reads };
}

describe('limitQueueDepth', () => {
  it('makes write() ask the writer to wait after that many queued messages (16 by default)', () => {
    const { d } = call();
    expect(limitQueueDepth(d, 'writable', 4)).toBe(true);
    const fits = Array.from({ length: 6 }, (_, i) => d.write({ i }));
    expect(fits).toEqual([true, true, true, false, false, false]);
    d.destroy();
  });

  it('makes a reader buffer only that many messages ahead', async () => {
    const limited = call();
    const plain = call();
    expect(limitQueueDepth(limited.d, 'readable', 2)).toBe(true);
    for (const c of [limited, plain]) c.d.once('readable', () => undefined); // starts reading, nothing consumed
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(limited.d.readableLength).toBe(2);
    expect(plain.d.readableLength).toBe(16);
    limited.d.destroy();
    plain.d.destroy();
  });

  it('keeps the default when the stream has no such state, and refuses a depth below 1', () => {
    const odd = new PassThrough({ objectMode: true });
    (odd as unknown as { _writableState?: unknown })._writableState = undefined;
    expect(limitQueueDepth(odd, 'writable', 4)).toBe(false);
    expect(() => limitQueueDepth(new PassThrough(), 'readable', 0)).toThrow(RangeError);
  });
});
