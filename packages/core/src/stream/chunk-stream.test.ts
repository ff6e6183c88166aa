import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkEncoder, ChunkSealer, ChunkVerifier, decompressed, StreamIntegrityError, zstdDecompress } from './chunk-stream';
import { compress } from 'zstd-napi';
import type { Chunk } from '../rpc/messages';

function collect(inputs: Buffer[], level: number, size: number): Buffer[] {
  const encoder = new ChunkEncoder(level, size);
  return [...inputs.flatMap((b) => encoder.push(b)), ...encoder.end()];
}

async function drain(chunks: Buffer[]): Promise<void> {
  for await (const _ of zstdDecompress((async function* () { yield* chunks; })())) void _;
}

async function decode(chunks: Buffer[], level: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of decompressed((async function* () { yield* chunks; })(), level)) out.push(b);
  return Buffer.concat(out);
}

describe('chunk stream', () => {
  const payload = Buffer.concat([crypto.randomBytes(300_000), Buffer.alloc(700_000, 7)]);

  it('makes each chunk one zstd frame of a fixed raw size, and survives a round trip with verification', async () => {
    const pieces = collect([payload.subarray(0, 12345), payload.subarray(12345)], 3, 64 * 1024);
    expect(pieces.length).toBe(Math.ceil(payload.length / (64 * 1024)));
    const binding = await import('zstd-napi/binding');
    pieces.forEach((p, i) => {
      expect(binding.findFrameCompressedSize(p)).toBe(p.length); // a whole frame
      expect(binding.getFrameContentSize(p)).toBe(Math.min(64 * 1024, payload.length - i * 64 * 1024));
    });
    const sealer = new ChunkSealer();
    const chunks = pieces.map((p) => sealer.seal(p));
    const end = sealer.end(payload.length);
    expect(end.wireBytes).toBeLessThan(payload.length); // compressible half shrinks

    const verifier = new ChunkVerifier();
    async function* verified(): AsyncGenerator<Buffer> {
      for (const c of chunks) yield verifier.verify(c);
      verifier.finish(end);
    }
    const result: Buffer[] = [];
    for await (const b of decompressed(verified(), 3)) result.push(b);
    expect(Buffer.concat(result).equals(payload)).toBe(true);
  });

  it('refuses a zstd bomb before allocating it: a frame may declare at most one chunk', async () => {
    const bomb = compress(Buffer.alloc(256 * 1024 * 1024)); // 256 MiB of zeros in a few KiB
    expect(bomb.length).toBeLessThan(64 * 1024);
    const before = process.memoryUsage().arrayBuffers;
    await expect(drain([bomb])).rejects.toThrow(/declares 268435456 bytes, more than a chunk's 1048576/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
    // One chunk's worth is fine.
    const out = await decode([compress(Buffer.alloc(1024 * 1024, 3))], 1);
    expect(out.equals(Buffer.alloc(1024 * 1024, 3))).toBe(true);
  });

  it('refuses a chunk that is not exactly one whole zstd frame', async () => {
    const frame = compress(Buffer.alloc(100_000, 1));
    await expect(drain([frame.subarray(0, 20)])).rejects.toThrow(/not a whole zstd frame/);
    await expect(drain([Buffer.concat([frame, frame])])).rejects.toThrow(/not exactly one zstd frame/);
    await expect(drain([Buffer.from('not zstd at all')])).rejects.toThrow(StreamIntegrityError);
  });

  it('passes data through uncompressed at level 0, in exact-size chunks', () => {
    const pieces = collect([payload.subarray(0, 5), payload.subarray(5)], 0, 100_000);
    expect(pieces.slice(0, -1).every((p) => p.length === 100_000)).toBe(true);
    expect(Buffer.concat(pieces).equals(payload)).toBe(true);
  });

  it('compresses at zstd\'s fast (negative) levels', async () => {
    const pieces = collect([payload], -1, 1024 * 1024);
    expect(Buffer.concat(pieces).length).toBeLessThan(payload.length * 0.6);
    expect((await decode(pieces, -1)).equals(payload)).toBe(true);
  });

  it('end() hands over what is pending as one last frame, on its own decodable', async () => {
    const encoder = new ChunkEncoder(1, 1024 * 1024);
    const small = Buffer.from('the last few bytes');
    expect(encoder.push(small)).toEqual([]); // held until a chunk is full
    const flushed = encoder.end();
    expect(flushed.length).toBe(1);
    const dctx = new (await import('zstd-napi/binding')).DCtx();
    const dst = Buffer.alloc(1024);
    const [, produced] = dctx.decompressStream(dst, flushed[0]);
    expect(dst.subarray(0, produced).equals(small)).toBe(true);
    expect(encoder.end()).toEqual([]); // nothing more pending
  });

  it('refuses a corrupted, a reordered and a truncated stream', () => {
    const sealer = new ChunkSealer();
    const chunks: Chunk[] = [sealer.seal(Buffer.from('one')), sealer.seal(Buffer.from('two'))];
    const end = sealer.end(6);

    const corrupt = new ChunkVerifier();
    expect(() => corrupt.verify({ ...chunks[0], data: Buffer.from('onf') })).toThrow(StreamIntegrityError);

    const reordered = new ChunkVerifier();
    expect(() => reordered.verify(chunks[1])).toThrow(/expected 0/);

    const truncated = new ChunkVerifier();
    truncated.verify(chunks[0]);
    expect(() => truncated.finish(end)).toThrow(/truncated/);

    // The CRC is chained: a chunk whose own bytes are intact but that follows other data fails.
    const spliced = new ChunkVerifier();
    spliced.verify(chunks[0]);
    expect(() => spliced.verify({ ...new ChunkSealer().seal(Buffer.from('two')), seq: 1 })).toThrow(/CRC32/);

    const forged = new ChunkVerifier();
    forged.verify(chunks[0]);
    forged.verify(chunks[1]);
    expect(() => forged.finish({ ...end, crc32: end.crc32 ^ 1 })).toThrow(/CRC32/);
    const whole = new ChunkVerifier();
    whole.verify(chunks[0]);
    whole.verify(chunks[1]);
    expect(() => whole.finish(end)).not.toThrow();
  });
});
