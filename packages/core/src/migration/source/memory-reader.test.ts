import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../protocol/checkpoint-layout';
import { BufferPool } from '../../stream/buffer-pool';
import { anonRuns, isAnonPresent, memoryPieces, privateMappings, sharedMemoryMappings } from './memory-reader';

// A realistic /proc/PID/maps: a node binary, its heap, an anonymous arena with its guard, a shared
// memory file, the stack and the kernel's own mappings (vsyscall as emulated kernels show it).
const MAPS = [
  '55d4c2e00000-55d4c2e2a000 r--p 00000000 08:01 1234567                    /usr/bin/node',
  '55d4c2e2a000-55d4c3f00000 r-xp 0002a000 08:01 1234567                    /usr/bin/node',
  '55d4c3f00000-55d4c3f10000 rw-p 01100000 08:01 1234567                    /usr/bin/node',
  '55d4c5000000-55d4c5300000 rw-p 00000000 00:00 0                          [heap]',
  '7f1a2c000000-7f1a2c021000 rw-p 00000000 00:00 0 ',
  '7f1a2c021000-7f1a30000000 ---p 00000000 00:00 0 ',
  '7f1a34000000-7f1a34100000 rw-s 00000000 00:01 5678                       /dev/shm/ring (deleted)',
  '7f1a35000000-7f1a35001000 r--s 00000000 08:01 999                        /var/lib/some.db',
  '7f1a36000000-7f1a36002000 r--p 00000000 08:01 1000                       /usr/lib/x86_64-linux-gnu/libc.so.6',
  '7ffd1c000000-7ffd1c021000 rw-p 00000000 00:00 0                          [stack]',
  '7ffd1c1ec000-7ffd1c1f0000 r--p 00000000 00:00 0                          [vvar]',
  '7ffd1c1f0000-7ffd1c1f2000 r--p 00000000 00:00 0                          [vvar_vclock]',
  '7ffd1c1f2000-7ffd1c1f4000 r-xp 00000000 00:00 0                          [vdso]',
  'ffffffffff600000-ffffffffff601000 r-xp 00000000 00:00 0                  [vsyscall]',
  '',
].join('\n');

describe('sharedMemoryMappings', () => {
  it('keeps anonymous shared and SysV shm mappings with their inode, and no shared file', () => {
    const maps = [
      MAPS,
      '7f1a40000000-7f1a48000000 rw-s 00000000 00:01 4242                       /dev/zero (deleted)',
      '7f1a48000000-7f1a48001000 rw-s 00000000 00:01 65537                      /SYSV0052e2c1 (deleted)',
      '7f1a49000000-7f1a49001000 ---s 00000000 00:01 777                        /dev/zero (deleted)',
    ].join('\n');
    expect(sharedMemoryMappings(maps)).toEqual([
      { start: 0x7f1a40000000, end: 0x7f1a48000000, inode: 4242, pgoff: 0 },
      { start: 0x7f1a48000000, end: 0x7f1a48001000, inode: 65537, pgoff: 0 },
    ]);
  });
});

describe('privateMappings', () => {
  it('keeps the readable private mappings, numeric, in order, and nothing shared, unreadable or the kernel’s', () => {
    expect(privateMappings(MAPS)).toEqual([
      { start: 0x55d4c2e00000, end: 0x55d4c2e2a000 },
      { start: 0x55d4c2e2a000, end: 0x55d4c3f00000 },
      { start: 0x55d4c3f00000, end: 0x55d4c3f10000 },
      { start: 0x55d4c5000000, end: 0x55d4c5300000 }, // [heap]
      { start: 0x7f1a2c000000, end: 0x7f1a2c021000 }, // anonymous, no name
      { start: 0x7f1a36000000, end: 0x7f1a36002000 },
      { start: 0x7ffd1c000000, end: 0x7ffd1c021000 }, // [stack]
    ]);
  });

  it('ignores blank and truncated lines', () => {
    expect(privateMappings('\n\n   \n55d4c5000000-55d4c5300000 rw-p\n')).toEqual([]);
    expect(privateMappings('')).toEqual([]);
  });

  it('parses this process’s own maps into page-aligned, non-empty ranges', () => {
    const ms = privateMappings(fs.readFileSync('/proc/self/maps', 'utf8'));
    expect(ms.length).toBeGreaterThan(0);
    for (const m of ms) {
      expect(Number.isInteger(m.start)).toBe(true);
      expect(m.start % PAGE_SIZE).toBe(0);
      expect(m.end % PAGE_SIZE).toBe(0);
      expect(m.end).toBeGreaterThan(m.start);
    }
  });
});

/** A pagemap as the kernel lays it out: 8 bytes a page, little-endian, flags in the high word. */
function pagemap(highs: number[]): Buffer {
  const buf = Buffer.alloc(highs.length * 8);
  highs.forEach((high, i) => {
    buf.writeUInt32LE(0x12345 + i, i * 8); // PFN bits: not looked at
    buf.writeUInt32LE(high >>> 0, i * 8 + 4);
  });
  return buf;
}

const ANON = 0x81800000; // present, exclusive, soft-dirty
const FILE = 0xa0000000; // present, file-backed
const SHARED_ANON = 0xa1000000; // present, shared anonymous (bit 29 too)
const SWAPPED = 0x40000000; // swapped out: not present
const ABSENT = 0;

describe('anonRuns', () => {
  it('reads the present and anonymous bits of the high word', () => {
    expect(isAnonPresent(ANON)).toBe(true);
    expect(isAnonPresent(0x80000000)).toBe(true);
    expect(isAnonPresent(FILE)).toBe(false);
    expect(isAnonPresent(SHARED_ANON)).toBe(false);
    expect(isAnonPresent(SWAPPED)).toBe(false);
    expect(isAnonPresent(ABSENT)).toBe(false);
  });

  it('finds the runs of anonymous present pages, one at the very end included', () => {
    const base = 0x7f0000000000;
    const pm = pagemap([ANON, ANON, FILE, ANON, ABSENT, SWAPPED, SHARED_ANON, ANON, ANON, ANON]);
    expect(anonRuns(pm, base)).toEqual([
      [base, 2],
      [base + 3 * PAGE_SIZE, 1],
      [base + 7 * PAGE_SIZE, 3],
    ]);
  });

  it('gives one run for all-anonymous pages and none for no anonymous page', () => {
    expect(anonRuns(pagemap([ANON, ANON, ANON, ANON]), 0x1000)).toEqual([[0x1000, 4]]);
    expect(anonRuns(pagemap([FILE, ABSENT, SWAPPED]), 0x1000)).toEqual([]);
    expect(anonRuns(Buffer.alloc(0), 0x1000)).toEqual([]);
  });

  it('looks only at the high word of each entry', () => {
    const pm = Buffer.alloc(16);
    pm.writeUInt32LE(0xffffffff, 0); // low word of page 0: all ones, high word 0
    pm.writeUInt32LE(ANON, 12); // page 1: anonymous
    expect(anonRuns(pm, 0x10000)).toEqual([[0x10000 + PAGE_SIZE, 1]]);
  });
});

// Page-aligned memory of this process: a WebAssembly memory is its own anonymous mapping (the
// Buffers of the heap are malloc'd, not page-aligned). Typed here: the ES2022 lib has no WebAssembly.
type WasmMemory = { readonly buffer: ArrayBuffer };
const { Memory } = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => WasmMemory } }).WebAssembly;
const WASM_PAGE = 64 * 1024;

/** `pages` pages of page-aligned memory, each filled with a 16-byte marker: magic, page number, ~page number. */
function markedPages(pages: number): { mem: Buffer; magic: Buffer } {
  const mem = Buffer.from(new Memory({ initial: (pages * PAGE_SIZE) / WASM_PAGE }).buffer);
  const magic = crypto.randomBytes(8);
  const marker = Buffer.alloc(16);
  for (let i = 0; i < pages; i++) {
    magic.copy(marker, 0);
    marker.writeUInt32LE(i, 8);
    marker.writeUInt32LE(~i >>> 0, 12);
    mem.fill(marker, i * PAGE_SIZE, (i + 1) * PAGE_SIZE); // written: present
  }
  return { mem, magic };
}

describe('memoryPieces', () => {
  const PAGES = 64;

  it('reads this process’s anonymous memory in whole pages, the marked pages among them byte for byte', () => {
    const { mem, magic } = markedPages(PAGES);
    const pool = new BufferPool(1024 * 1024);
    const found = new Set<number>();
    let pieces = 0;
    for (const piece of memoryPieces([process.pid], pool, Number.MAX_SAFE_INTEGER)) {
      pieces++;
      expect(piece.length).toBeGreaterThan(0);
      expect(piece.length % PAGE_SIZE).toBe(0);
      expect(piece.length).toBeLessThanOrEqual(pool.size);
      for (let off = 0; off < piece.length; off += PAGE_SIZE) {
        if (piece.compare(magic, 0, 8, off, off + 8) !== 0) continue;
        const i = piece.readUInt32LE(off + 8);
        if (i >= PAGES) continue;
        if (piece.compare(mem, i * PAGE_SIZE, (i + 1) * PAGE_SIZE, off, off + PAGE_SIZE) === 0) found.add(i);
      }
      pool.giveBack(piece);
    }
    expect(pieces).toBeGreaterThan(1);
    expect([...found].sort((a, b) => a - b)).toEqual(Array.from({ length: PAGES }, (_, i) => i));
  });

  it('keeps each piece within the pool’s buffer size', () => {
    const { mem, magic } = markedPages(PAGES);
    const pool = new BufferPool(4 * PAGE_SIZE);
    const found = new Set<number>();
    for (const piece of memoryPieces([process.pid], pool, Number.MAX_SAFE_INTEGER)) {
      expect(piece.length % PAGE_SIZE).toBe(0);
      expect(piece.length).toBeGreaterThan(0);
      expect(piece.length).toBeLessThanOrEqual(4 * PAGE_SIZE);
      for (let off = 0; off < piece.length; off += PAGE_SIZE) {
        if (piece.compare(magic, 0, 8, off, off + 8) !== 0) continue;
        const i = piece.readUInt32LE(off + 8);
        if (i < PAGES && piece.compare(mem, i * PAGE_SIZE, (i + 1) * PAGE_SIZE, off, off + PAGE_SIZE) === 0) found.add(i);
      }
      pool.giveBack(piece);
    }
    expect(found.size).toBe(PAGES);
  });

  it.each([0, 1, 3, 300])('yields exactly maxPages = %i pages in all', (maxPages) => {
    const pool = new BufferPool(64 * PAGE_SIZE);
    let pages = 0;
    for (const piece of memoryPieces([process.pid], pool, maxPages)) {
      expect(piece.length % PAGE_SIZE).toBe(0);
      pages += piece.length / PAGE_SIZE;
      pool.giveBack(piece);
    }
    expect(pages).toBe(maxPages);
  });

  it('reads a shared anonymous mapping once, as a segment of its own after the process\'s private memory', async () => {
    // Python's anonymous mmap is MAP_SHARED: 64 pages of 0x42, one of them never touched.
    const child = spawn('python3', ['-c', [
      'import mmap, sys, time',
      'm = mmap.mmap(-1, 65 * 4096)',
      'm[:64 * 4096] = b"\\x42" * (64 * 4096)',
      'print("ready", flush=True)',
      'time.sleep(60)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const segments: Buffer[][] = [];
      const pool = new BufferPool(1024 * 1024);
      for (const piece of memoryPieces([child.pid as number], pool, Number.MAX_SAFE_INTEGER, () => segments.push([]))) {
        segments[segments.length - 1].push(Buffer.from(piece));
        pool.giveBack(piece);
      }
      const shared = segments.map((seg) => Buffer.concat(seg)).filter((b) => b.length === 64 * PAGE_SIZE && b.every((x) => x === 0x42));
      expect(shared).toHaveLength(1); // the untouched page is not read (it would be made)
      expect(segments.length).toBeGreaterThanOrEqual(2);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('skips a process that does not exist', () => {
    const gone = 2 ** 22 + 12345; // above any pid_max
    expect(fs.existsSync(`/proc/${gone}`)).toBe(false);
    const pool = new BufferPool(1024 * 1024);
    expect([...memoryPieces([gone], pool, 1000)]).toEqual([]);
    // ...and goes on with the next one.
    let pages = 0;
    for (const piece of memoryPieces([gone, process.pid], pool, 5)) {
      pages += piece.length / PAGE_SIZE;
      pool.giveBack(piece);
    }
    expect(pages).toBe(5);
  });
});
