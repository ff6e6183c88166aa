import { describe, expect, it } from 'vitest';
import { compressName, parseCompress } from './compress-level';

describe('--compress values', () => {
  it('maps names and numbers to zstd levels', () => {
    expect(parseCompress('none')).toBe(0);
    expect(parseCompress('fast')).toBe(-1);
    expect(parseCompress('fast4')).toBe(-4);
    expect(parseCompress('-2')).toBe(-2);
    expect(parseCompress('19')).toBe(19);
  });

  it('refuses what zstd or we do not offer', () => {
    for (const bad of ['0', '20', '-8', 'fast8', '1.5', 'zstd', '']) expect(() => parseCompress(bad)).toThrow(/--compress takes/);
  });

  it('names levels for the summary', () => {
    expect([0, 3, -1].map(compressName)).toEqual(['uncompressed', 'zstd 3', 'zstd --fast=1']);
  });
});
