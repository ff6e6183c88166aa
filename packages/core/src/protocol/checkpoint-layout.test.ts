import { describe, expect, it } from 'vitest';
import { decodeRuns, encodeRuns, type Run } from './checkpoint-layout';

describe('encodeRuns / decodeRuns', () => {
  it('encodes runs as little-endian u32 pairs', () => {
    expect(encodeRuns([[1, 2]])).toEqual(Buffer.from([1, 0, 0, 0, 2, 0, 0, 0]));
    expect(encodeRuns([]).length).toBe(0);
  });

  it('round-trips', () => {
    const runs: Run[] = [
      [0, 1],
      [4294967295, 7],
      [123456, 256],
      [5, 0xffffffff],
    ];
    const buf = encodeRuns(runs);
    expect(buf.length).toBe(runs.length * 8);
    expect(decodeRuns(buf)).toEqual(runs);
    expect(decodeRuns(Buffer.alloc(0))).toEqual([]);
  });

  it('refuses a body that is not whole pairs', () => {
    expect(() => decodeRuns(Buffer.alloc(12))).toThrow(/not whole/);
    expect(() => decodeRuns(Buffer.alloc(7))).toThrow(/not whole/);
  });
});
