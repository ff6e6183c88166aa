import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FlatFileApplier } from '../../fsdiff';
import { MAX_PIECE } from '../../protocol/checkpoint-layout';
import { BufferPool } from '../../stream/buffer-pool';
import { packImages } from './dump-follower';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Stands in for criu dump: appends to pages images over time, and writes a small image last. */
async function fakeDump(dir: string, pieces: Array<[string, Buffer]>, fail = false): Promise<void> {
  for (const [name, data] of pieces) {
    fs.appendFileSync(path.join(dir, name), data);
    await sleep(5);
  }
  fs.writeFileSync(path.join(dir, 'core-1.img'), 'core');
  if (fail) throw new Error('criu dump failed (exit 1)');
}

/** Reads the pack into a directory the way the destination does; counts entries per name. */
async function unpack(pack: { pipe(dest: tar.Extract): unknown }, dir: string): Promise<Map<string, number>> {
  const applier = new FlatFileApplier(dir);
  const seen = new Map<string, number>();
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    const name = header.name.replace(/^criu\//, '');
    seen.set(name, (seen.get(name) ?? 0) + 1);
    applier.apply({ ...header, name }, body).then(() => next(), next);
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    pack.pipe(extract);
  });
  return seen;
}

describe('packImages', () => {
  let src: string;
  let dst: string;
  beforeEach(() => {
    src = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-follow-src-'));
    dst = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-follow-dst-'));
  });
  afterEach(() => {
    fs.rmSync(src, { recursive: true, force: true });
    fs.rmSync(dst, { recursive: true, force: true });
  });

  it('sends the pages images in pieces while they grow, then the other images, all whole', async () => {
    const piece = (): Buffer => crypto.randomBytes(300 * 1024);
    const writes: Array<[string, Buffer]> = [
      ['pages-1.img', piece()], ['pages-1.img', piece()], ['pages-1.img', piece()],
      ['pages-2.img', piece()], ['pages-2.img', Buffer.from('tail')],
    ];
    const pack = tar.pack();
    const unpacked = unpack(pack, dst);
    const bytes = await packImages(pack, src, 'criu/', fakeDump(src, writes), new BufferPool(MAX_PIECE));
    pack.finalize();
    const seen = await unpacked;

    for (const name of ['pages-1.img', 'pages-2.img']) {
      const expected = Buffer.concat(writes.filter(([n]) => n === name).map(([, d]) => d));
      expect(fs.readFileSync(path.join(dst, name)).equals(expected)).toBe(true);
    }
    expect(seen.get('pages-1.img')).toBeGreaterThan(1); // in pieces, as it grew
    expect(fs.readFileSync(path.join(dst, 'core-1.img'), 'utf8')).toBe('core'); // written last by the dump
    expect(seen.get('core-1.img')).toBe(1);
    expect(bytes).toBe(3 * 300 * 1024 + 300 * 1024 + 4 + 4);
  });

  it('sends a finished dump whole, empty images too, and leaves dump.log out', async () => {
    const big = crypto.randomBytes(2 * MAX_PIECE + 123);
    fs.writeFileSync(path.join(src, 'pages-1.img'), big);
    fs.writeFileSync(path.join(src, 'inventory.img'), 'inv');
    fs.writeFileSync(path.join(src, 'empty.img'), '');
    fs.writeFileSync(path.join(src, 'dump.log'), 'criu says');
    const pack = tar.pack();
    const unpacked = unpack(pack, dst);
    const bytes = await packImages(pack, src, 'criu/', Promise.resolve(), new BufferPool(MAX_PIECE));
    pack.finalize();
    const seen = await unpacked;
    expect(fs.readFileSync(path.join(dst, 'pages-1.img')).equals(big)).toBe(true);
    expect(seen.get('pages-1.img')).toBe(3); // pieces of at most MAX_PIECE
    expect(fs.readFileSync(path.join(dst, 'empty.img')).length).toBe(0);
    expect(fs.readFileSync(path.join(dst, 'inventory.img'), 'utf8')).toBe('inv');
    expect(seen.has('dump.log')).toBe(false);
    expect(bytes).toBe(big.length + 3);
  });

  it('refuses what is not a regular file in the images dir', async () => {
    fs.writeFileSync(path.join(dst, 'outside'), 'secret');
    fs.symlinkSync(path.join(dst, 'outside'), path.join(src, 'core-1.img'));
    const pack = tar.pack();
    pack.resume();
    await expect(packImages(pack, src, 'criu/', Promise.resolve(), new BufferPool(MAX_PIECE))).rejects.toThrow(/ELOOP|not a regular file/);
    fs.rmSync(path.join(src, 'core-1.img'));
    fs.mkdirSync(path.join(src, 'sub.img'));
    await expect(packImages(tar.pack(), src, 'criu/', Promise.resolve(), new BufferPool(MAX_PIECE))).rejects.toThrow(/sub.img, which is not a regular file/);
  });

  it('reads pieces into pooled buffers that come back into use once the reader has copied them', async () => {
    const writes: Array<[string, Buffer]> = Array.from({ length: 12 }, () => ['pages-1.img', crypto.randomBytes(200 * 1024)]);
    const pool = new BufferPool(MAX_PIECE);
    const lent = new Set<ArrayBufferLike>();
    const take = pool.take.bind(pool);
    pool.take = (length?: number): Buffer => {
      const b = take(length);
      lent.add(b.buffer);
      return b;
    };
    const pack = tar.pack();
    const copies: Buffer[] = [];
    const reading = (async () => {
      for await (const data of pack as AsyncIterable<Buffer>) {
        copies.push(Buffer.from(data)); // as the chunk encoder does
        pool.giveBack(data);
      }
    })();
    await packImages(pack, src, 'criu/', fakeDump(src, writes), pool);
    pack.finalize();
    await reading;

    await unpack(Readable.from(copies), dst);
    expect(fs.readFileSync(path.join(dst, 'pages-1.img')).equals(Buffer.concat(writes.map(([, d]) => d)))).toBe(true);
    expect(lent.size).toBeLessThan(4); // 12 pieces, a few buffers (without giveBack: 12)
  });

  it('fails with the dump\'s error', async () => {
    const pack = tar.pack();
    pack.resume();
    await expect(packImages(pack, src, 'criu/', fakeDump(src, [['pages-1.img', Buffer.alloc(4096)]], true), new BufferPool(MAX_PIECE)))
      .rejects.toThrow(/criu dump failed/);
  });
});
