// Reads the memory of a running process tree, for the pre-copy: the present, anonymous pages of
// each process's private mappings (what CRIU's dump will hold), located through
// /proc/PID/pagemap and read through /proc/PID/mem. The processes keep running: a page written
// meanwhile is read torn or stale, which costs nothing but its reuse (the dump's copy of it then
// differs, and is sent).
import fs from 'node:fs';
import { PAGE_SIZE } from '../../protocol/checkpoint-layout';
import type { BufferPool } from '../../stream/buffer-pool';

/** Mappings of the kernel's own that CRIU does not dump page by page. */
const SPECIAL = new Set(['[vvar]', '[vvar_vclock]', '[vdso]', '[vsyscall]']);

export interface Mapping {
  start: number;
  end: number;
}

/** The readable private mappings in a /proc/PID/maps text, in address order. */
export function privateMappings(maps: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of maps.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const perms = f[1];
    if (perms[0] !== 'r' || perms[3] !== 'p' || SPECIAL.has(f[5] ?? '')) continue;
    const [start, end] = f[0].split('-').map((h) => parseInt(h, 16));
    out.push({ start, end });
  }
  return out;
}

/**
 * pagemap entry, high 32 bits: bit 31 present, bit 29 file-backed or shared. A present page
 * that is neither is an anonymous private page (CRIU dumps these; the file pages it leaves to
 * the file).
 */
const PRESENT = 1 << 31;
const FILE_OR_SHARED = 1 << 29;
export function isAnonPresent(high: number): boolean {
  return (high & PRESENT) !== 0 && (high & FILE_OR_SHARED) === 0;
}

/** Runs of anonymous present pages, as [first page address, page count], from pagemap entries. */
export function anonRuns(pagemap: Buffer, firstAddress: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let runStart = -1;
  const entries = pagemap.length / 8;
  for (let i = 0; i <= entries; i++) {
    const anon = i < entries && isAnonPresent(pagemap.readUInt32LE(i * 8 + 4));
    if (anon && runStart < 0) runStart = i;
    if (!anon && runStart >= 0) {
      runs.push([firstAddress + runStart * PAGE_SIZE, i - runStart]);
      runStart = -1;
    }
  }
  return runs;
}

/** pagemap entries looked at per read: 1 MiB of them covers 512 MiB of address space. */
const PAGEMAP_SLICE = 128 * 1024;

/**
 * Pieces of the anonymous memory of `pids`, each a whole number of pages in a buffer of `pool`
 * (the consumer gives it back), at most `maxPages` pages in all; `onProcess` runs before the
 * first piece of each process. A process that has exited, or a range the kernel refuses to read,
 * is skipped.
 */
export function* memoryPieces(pids: number[], pool: BufferPool, maxPages: number, onProcess?: (pid: number) => void): Generator<Buffer> {
  let left = maxPages;
  const piecePages = Math.floor(pool.size / PAGE_SIZE);
  for (const pid of pids) {
    let maps: string;
    let pagemapFd: number;
    let memFd: number;
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
      pagemapFd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
    } catch {
      continue; // exited
    }
    try {
      memFd = fs.openSync(`/proc/${pid}/mem`, 'r');
    } catch {
      fs.closeSync(pagemapFd);
      continue;
    }
    let announced = false;
    try {
      const entries = Buffer.allocUnsafe(PAGEMAP_SLICE * 8);
      for (const m of privateMappings(maps)) {
        for (let at = m.start; at < m.end && left > 0; at += PAGEMAP_SLICE * PAGE_SIZE) {
          const pages = Math.min(PAGEMAP_SLICE, (m.end - at) / PAGE_SIZE);
          const got = readAt(pagemapFd, entries.subarray(0, pages * 8), (at / PAGE_SIZE) * 8);
          for (const [addr, count] of anonRuns(entries.subarray(0, got - (got % 8)), at)) {
            for (let done = 0; done < count && left > 0; ) {
              const n = Math.min(piecePages, count - done, left);
              const piece = pool.take(n * PAGE_SIZE);
              const read = readAt(memFd, piece, addr + done * PAGE_SIZE);
              done += n;
              if (read < piece.length) {
                pool.giveBack(piece); // unmapped meanwhile: the dump will tell
                continue;
              }
              left -= n;
              if (!announced) onProcess?.(pid);
              announced = true;
              yield piece;
            }
          }
        }
      }
    } finally {
      fs.closeSync(pagemapFd);
      fs.closeSync(memFd);
    }
  }
}

/** Reads into `buf` at `position`; a short count where the range ends or cannot be read. */
function readAt(fd: number, buf: Buffer, position: number): number {
  let got = 0;
  while (got < buf.length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, got, buf.length - got, position + got);
    } catch {
      break; // EIO/EFAULT: a range that went away
    }
    if (n === 0) break;
    got += n;
  }
  return got;
}
