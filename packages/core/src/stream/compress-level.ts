// --compress values: zstd levels 1..19, zstd's fast levels (negative, "fastN" as in `zstd --fast=N`),
// or none (0).

/** Chosen by measurement (scripts/bench.sh, README): on checkpoint memory, zstd --fast=1 keeps
 * level 1's ratio at several times its speed, and compression runs on the agents' main thread. */
export const DEFAULT_COMPRESS = 'fast';

export const MIN_LEVEL = -7;
export const MAX_LEVEL = 19;

/** "none" | "fast" | "fast1".."fast7" | "1".."19" | "-1".."-7" -> level (0 = none). */
export function parseCompress(v: string): number {
  if (v === 'none') return 0;
  const fast = /^fast([1-7])?$/.exec(v);
  if (fast) return -Number(fast[1] ?? 1);
  const n = Number(v);
  if (!Number.isInteger(n) || n === 0 || n < MIN_LEVEL || n > MAX_LEVEL) {
    throw new Error(`--compress takes "none", "fast", fast1-fast7 or a zstd level 1-19, not "${v}"`);
  }
  return n;
}

export function isValidLevel(level: number): boolean {
  return Number.isInteger(level) && level >= MIN_LEVEL && level <= MAX_LEVEL;
}

/** For people: "zstd 3", "zstd --fast=1", "uncompressed". */
export function compressName(level: number): string {
  if (level === 0) return 'uncompressed';
  return level > 0 ? `zstd ${level}` : `zstd --fast=${-level}`;
}
