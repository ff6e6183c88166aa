// The checkpoint stream's inner layout: what the source writes into the tar stream and the
// destination reads out of it. Both ends import it from here, and only from here.
//
// Every tar entry lives under one of PREFIX's names (or is LOG_ENTRY). CRIU's pages images are
// made on the destination from pieces: plain entries appended, entries with one of PAX's records
// (written at an offset, starting a tail, giving the final size), and reuse entries whose body is
// runs of pre-copy store pages (encodeRuns) or whose pax record names a whole pre-copy segment.

/** A memory page: the unit of the pre-copy, its store and the runs that point into it. */
export const PAGE_SIZE = 4096;

/** Stream layout: every tar entry lives under one of these prefixes. */
export const PREFIX = { images: 'criu/', reuse: 'reuse/', rootfs: 'rootfs/', volumes: 'volumes/' } as const;

/** The source container's json-file log, appended to the new container's log before the restore. */
export const LOG_ENTRY = 'logs/container-json.log';

/** Pax keys of the entries that make a pages image from the pre-copy (page-index.ts ImageOp). */
export const PAX = { segment: 'LIVEMIG.segment', offset: 'LIVEMIG.offset', tail: 'LIVEMIG.tail', size: 'LIVEMIG.size' } as const;

/** Largest piece of an image the source reads and sends as one tar entry. */
export const MAX_PIECE = 1024 * 1024;

/** A reuse entry names at most this many bytes of runs (the source sends one per piece read). */
export const MAX_REUSE_ENTRY = 1024 * 1024;

/**
 * What a stream may carry beyond what Prepare announced. The container runs between Prepare and
 * the freeze, so its memory (estimatedBytes: the CRIU images) and its files and log (fileBytes:
 * each disk round, and the trees and log in the checkpoint) may grow meanwhile: up to twice the
 * announcement plus 256 MiB. More is refused as it comes (from each entry's header, before its
 * body is written), and the migration rolled back: a peer cannot fill the destination's memory
 * (the tmpfs scratch dir) or disk beyond what it said it would take.
 */
export function withGrowth(announced: number): number {
  return 2 * announced + GROWTH_SLACK;
}
export const GROWTH_SLACK = 256 * 1024 * 1024;

/** Disk rounds at most before DiskDone (each sends at most the trees, withGrowth). */
export const MAX_DISK_ROUNDS = 6;

/** Pages of the store referenced from one place in a pages image: [first store page, count]. */
export type Run = [number, number];

/** Runs as a reuse entry's body: little-endian u32 pairs. */
export function encodeRuns(runs: Run[]): Buffer {
  const buf = Buffer.allocUnsafe(runs.length * 8);
  runs.forEach(([start, count], i) => {
    buf.writeUInt32LE(start, i * 8);
    buf.writeUInt32LE(count, i * 8 + 4);
  });
  return buf;
}

/** The inverse of encodeRuns; refuses a body that is not whole pairs. */
export function decodeRuns(buf: Buffer): Run[] {
  if (buf.length % 8 !== 0) throw new Error(`a reuse entry of ${buf.length} bytes is not whole (start, count) pairs`);
  const runs: Run[] = [];
  for (let i = 0; i < buf.length; i += 8) runs.push([buf.readUInt32LE(i), buf.readUInt32LE(i + 4)]);
  return runs;
}
