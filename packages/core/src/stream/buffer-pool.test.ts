import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool';

describe('BufferPool', () => {
  it('lends a given-back buffer again, once, and only when the lent object itself comes back', () => {
    const pool = new BufferPool(1024, 2);
    const a = pool.take(100);
    expect(a.length).toBe(100);
    pool.giveBack(a.subarray(0, 10)); // a view is not the lent buffer: ignored
    expect(pool.take().buffer).not.toBe(a.buffer);
    pool.giveBack(a);
    const b = pool.take();
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(1024);
    pool.giveBack(a); // a stale holder gives it back again while b uses it: ignored
    expect(pool.take().buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it never lent, keeps at most `keep`, refuses oversize requests', () => {
    const pool = new BufferPool(64, 1);
    pool.giveBack(Buffer.alloc(64));
    const [a, b] = [pool.take(), pool.take()];
    expect(a.buffer).not.toBe(b.buffer);
    pool.giveBack(a);
    pool.giveBack(b); // beyond keep: left to the GC
    const [c, d] = [pool.take(), pool.take()];
    expect(c.buffer).toBe(a.buffer);
    expect(d.buffer).not.toBe(b.buffer);
    expect(() => pool.take(65)).toThrow(RangeError);
  });

  it('gives a small request a buffer of its own when none is free, a free one otherwise', () => {
    const pool = new BufferPool(1 << 20, 2);
    const small = pool.take(64);
    expect(small.length).toBe(64);
    expect(small.buffer.byteLength).toBeLessThan(1 << 20); // not a fresh full-size buffer
    pool.giveBack(small); // not lent: ignored
    const big = pool.take();
    pool.giveBack(big);
    const again = pool.take(64);
    expect(again.buffer).toBe(big.buffer); // a free one is used
  });
});
