import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { queueDepth } from './call-queue-depth';

/** An object-mode duplex as gRPC-js makes its calls: a writer that takes 10 ms a message, a reader that produces on demand. */
function call(): Duplex {
  let reads = 0;
  return new Duplex({
    objectMode: true,
    read() {
      this.push({ n: ++reads });
    },
    write(_chunk, _enc, cb) {
      setTimeout(cb, 10);
    },
  });
}

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('queueDepth', () => {
  it('makes write() ask the writer to wait after that many queued messages, and back (16 as made)', async () => {
    const d = call();
    const depth = queueDepth(d, 'writable');
    expect(depth?.initial).toBe(16);
    depth?.set(4);
    expect(Array.from({ length: 6 }, (_, i) => d.write({ i }))).toEqual([true, true, true, false, false, false]);
    await new Promise((resolve) => d.once('drain', resolve));
    depth?.set(depth.initial);
    expect(Array.from({ length: 6 }, (_, i) => d.write({ i }))).toEqual([true, true, true, true, true, true]);
    d.destroy();
  });

  it('makes a reader buffer only that many messages ahead', async () => {
    const limited = call();
    const plain = call();
    queueDepth(limited, 'readable')?.set(2);
    for (const d of [limited, plain]) d.once('readable', () => undefined); // starts reading, nothing consumed
    await tick(50);
    expect(limited.readableLength).toBe(2);
    expect(plain.readableLength).toBe(16);
    limited.destroy();
    plain.destroy();
  });

  it('is undefined when the stream has no such state, and refuses a depth below 1', () => {
    const odd = new PassThrough({ objectMode: true });
    (odd as unknown as { _writableState?: unknown })._writableState = undefined;
    expect(queueDepth(odd, 'writable')).toBeUndefined();
    expect(() => queueDepth(new PassThrough(), 'readable')?.set(0)).toThrow(RangeError);
  });
});
