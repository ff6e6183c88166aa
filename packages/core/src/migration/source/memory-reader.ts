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

/** One line of /proc/PID/maps, split (blank and truncated lines are left out). */
interface MapsLine {
  start: number;
  end: number;
  perms: string;
  /** Byte offset into what is mapped. */
  offset: number;
  inode: number;
  path: string;
}

function mapsLines(maps: string): MapsLine[] {
  const out: MapsLine[] = [];
  for (const line of maps.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const [start, end] = f[0].split('-').map((h) => parseInt(h, 16));
    out.push({ start, end, perms: f[1], offset: parseInt(f[2], 16), inode: Number(f[4]), path: f[5] ?? '' });
  }
  return out;
}

/** The readable private mappings in a /proc/PID/maps text, in address order. */
export function privateMappings(maps: string): Mapping[] {
  return mapsLines(maps)
    .filter((m) => m.perms[0] === 'r' && m.perms[3] === 'p' && !SPECIAL.has(m.path))
    .map(({ start, end }) => ({ start, end }));
}

export interface SharedMapping extends Mapping {
  /** The shmem object's inode: mapped by several processes, it is read once. */
  inode: number;
  /** The object's page at `start`. */
  pgoff: number;
}

/**
 * The readable shared memory in a /proc/PID/maps text that CRIU dumps page by page: anonymous
 * shared mappings (shown as /dev/zero; in a restored tree, the memfds CRIU made:
 * /memfd:/dev/zero) and SysV shm segments (/SYSVkey), in address order. (Files in /dev/shm are
 * files of a tmpfs: CRIU dumps that mount's content, not their pages.)
 */
export function sharedMemoryMappings(maps: string): SharedMapping[] {
  return mapsLines(maps)
    .filter((m) => m.perms[0] === 'r' && m.perms[3] === 's' && /^(\/memfd:)?\/dev\/zero$|^\/SYSV[0-9a-f]{8}$/.test(m.path))
    .map(({ start, end, inode, offset }) => ({ start, end, inode, pgoff: offset / PAGE_SIZE }));
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
 * Pieces of the memory of `pids` that CRIU dumps page by page, each a whole number of pages in a
 * buffer of `pool` (the consumer gives it back), at most `maxPages` pages in all, in segments:
 * one for each process's private anonymous memory, then one for each shared memory object;
 * `onSegment` runs before the first piece of each. A process that has exited, or a range the
 * kernel refuses to read, is skipped.
 */
export function* memoryPieces(pids: number[], pool: BufferPool, maxPages: number, onSegment?: (pid: number) => void): Generator<Buffer> {
  const budget = { left: maxPages };
  const shared = new Map<number, SharedMapping & { pid: number }>(); // by inode: the widest mapping seen
  for (const pid of pids) {
    const files = openProcess(pid);
    if (!files) continue; // exited
    try {
      for (const m of sharedMemoryMappings(files.maps)) {
        const seen = shared.get(m.inode);
        if (!seen || m.end - m.start > seen.end - seen.start) shared.set(m.inode, { ...m, pid });
      }
      yield* privatePieces({ ...files, pid, pool, budget, onSegment }, privateMappings(files.maps));
    } finally {
      fs.closeSync(files.pagemapFd);
      fs.closeSync(files.memFd);
    }
  }
  for (const m of shared.values()) yield* sharedPieces({ pool, budget, onSegment }, m);
}

function openProcess(pid: number): { maps: string; pagemapFd: number; memFd: number } | undefined {
  let maps: string;
  let pagemapFd: number;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    pagemapFd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  } catch {
    return undefined;
  }
  try {
    return { maps, pagemapFd, memFd: fs.openSync(`/proc/${pid}/mem`, 'r') };
  } catch {
    fs.closeSync(pagemapFd);
    return undefined;
  }
}

const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

/**
 * A shared memory object's pages, in offset order, read as a file (its mapping's
 * /proc/PID/map_files entry): a page that no process maps now is still in it (a database's
 * buffers stay when the backend that read them exits), and CRIU dumps what the object holds.
 * Reading the file leaves holes as they are (they read as zeros); pages of zeros are left out,
 * as holes would be: the dump's copy of a zero page is found in the store or sent (a few bytes
 * compressed).
 */
function* sharedPieces(p: { pool: BufferPool; budget: { left: number }; onSegment?: (pid: number) => void }, m: SharedMapping & { pid: number }): Generator<Buffer> {
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${m.pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`, 'r');
  } catch {
    return; // exited, or no map_files here
  }
  let announced = false;
  try {
    const end = (m.pgoff * PAGE_SIZE) + (m.end - m.start);
    for (let at = m.pgoff * PAGE_SIZE; at < end && p.budget.left > 0; ) {
      const buf = p.pool.take(Math.min(p.pool.size, end - at));
      const read = readAt(fd, buf, at);
      at += buf.length;
      const pages: number[] = [];
      for (let i = 0; i + PAGE_SIZE <= read; i += PAGE_SIZE) if (!buf.subarray(i, i + PAGE_SIZE).equals(ZERO_PAGE)) pages.push(i);
      let piece: Buffer | undefined = buf;
      if (pages.length * PAGE_SIZE !== buf.length) {
        piece = pages.length > 0 ? p.pool.take(pages.length * PAGE_SIZE) : undefined;
        pages.forEach((from, k) => buf.copy(piece as Buffer, k * PAGE_SIZE, from, from + PAGE_SIZE));
        p.pool.giveBack(buf);
      }
      if (!piece) continue;
      if (pages.length > p.budget.left) {
        p.pool.giveBack(piece);
        return;
      }
      p.budget.left -= pages.length;
      if (!announced) p.onSegment?.(m.pid);
      announced = true;
      yield piece;
      if (read < buf.length) return; // the object is shorter than the mapping
    }
  } finally {
    fs.closeSync(fd);
  }
}

interface ProcessFiles {
  pagemapFd: number;
  memFd: number;
  pid: number;
  pool: BufferPool;
  budget: { left: number };
  onSegment?: (pid: number) => void;
}

/** A process's private anonymous memory: the present pages of `mappings`, in address order. */
function* privatePieces(p: ProcessFiles, mappings: Mapping[]): Generator<Buffer> {
  const entries = Buffer.allocUnsafe(PAGEMAP_SLICE * 8);
  const runs: Array<[number, number]> = [];
  for (const m of mappings) {
    for (let at = m.start; at < m.end; at += PAGEMAP_SLICE * PAGE_SIZE) {
      const pages = Math.min(PAGEMAP_SLICE, (m.end - at) / PAGE_SIZE);
      const got = readAt(p.pagemapFd, entries.subarray(0, pages * 8), (at / PAGE_SIZE) * 8);
      for (const r of anonRuns(entries.subarray(0, got - (got % 8)), at)) runs.push(r);
    }
  }
  yield* runPieces(p, runs);
}

/** The pages of `runs` ([address, pages]) read through /proc/PID/mem as pieces of one segment; `onSegment` before the first. */
function* runPieces(p: ProcessFiles, runs: Array<[number, number]>): Generator<Buffer> {
  const piecePages = Math.floor(p.pool.size / PAGE_SIZE);
  let announced = false;
  for (const [addr, count] of runs) {
    for (let done = 0; done < count && p.budget.left > 0; ) {
      const n = Math.min(piecePages, count - done, p.budget.left);
      const piece = p.pool.take(n * PAGE_SIZE);
      const read = readAt(p.memFd, piece, addr + done * PAGE_SIZE);
      done += n;
      if (read < piece.length) {
        p.pool.giveBack(piece); // unmapped meanwhile: the dump will tell
        continue;
      }
      p.budget.left -= n;
      if (!announced) p.onSegment?.(p.pid);
      announced = true;
      yield piece;
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
