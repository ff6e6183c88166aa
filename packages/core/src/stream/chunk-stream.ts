// The wire format of a migration: one tar stream, zstd-compressed (or not), cut into chunks that
// each carry a sequence number and a CRC32; the whole stream is covered by a SHA-256.
import crypto from 'node:crypto';
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { CompressStream } from 'zstd-napi';
import * as zstdBinding from 'zstd-napi/binding';
import type { Chunk, End } from '../rpc/messages';

/** Size of a chunk on the wire: big enough for loopback-speed HTTP/2, small enough to pipeline. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

/** Regroups a byte stream into buffers of exactly `size` bytes (the last may be shorter). */
export class Chunker extends Transform {
  private parts: Buffer[] = [];
  private length = 0;

  constructor(private readonly size = DEFAULT_CHUNK_SIZE) {
    // Object mode on the readable side keeps each chunk whole (byte mode would merge them).
    super({ readableObjectMode: true, readableHighWaterMark: 4 });
  }

  override _transform(data: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.parts.push(data);
    this.length += data.length;
    while (this.length >= this.size) this.emitChunk(this.size);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.length > 0) this.emitChunk(this.length);
    done();
  }

  private emitChunk(n: number): void {
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.length);
    this.push(all.subarray(0, n));
    const rest = all.subarray(n);
    this.parts = rest.length ? [rest] : [];
    this.length = rest.length;
  }
}

/** zstd at `level` (1..19), or a pass-through for level 0. */
export function compressor(level: number): Transform {
  if (level <= 0) return new PassThrough();
  return new CompressStream({ compressionLevel: level });
}

/**
 * zstd decompression pulled by its consumer, one output buffer (~128 KiB) at a time. zstd-napi's
 * DecompressStream pushes all the output of an input chunk at once: 1 MiB of compressed zeros
 * became 512 MiB in memory (and a hostile peer could send a "zstd bomb"). Here nothing is
 * decompressed before it is asked for.
 */
export async function* zstdDecompress(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const dctx = new zstdBinding.DCtx();
  const outSize = zstdBinding.dStreamOutSize();
  let inFrame = false;
  for await (const chunk of input) {
    let src = chunk;
    for (;;) {
      const dst = Buffer.allocUnsafe(outSize);
      const [ret, produced, consumed] = dctx.decompressStream(dst, src);
      src = src.subarray(consumed);
      if (produced > 0) yield dst.subarray(0, produced);
      if (src.length === 0 && (produced < dst.length || ret === 0)) {
        inFrame = ret !== 0;
        break;
      }
    }
  }
  if (inFrame) throw new StreamIntegrityError('the stream ends in the middle of a zstd frame');
}

/** The tar bytes of a received stream: decompressed when the sender compressed. */
export function decompressed(input: AsyncIterable<Buffer>, level: number): AsyncIterable<Buffer> {
  return level > 0 ? zstdDecompress(input) : input;
}

/** Turns chunk payloads into Chunk messages and keeps the totals for the End message. */
export class ChunkSealer {
  private seq = 0;
  private wireBytes = 0;
  private readonly hash = crypto.createHash('sha256');

  seal(data: Buffer): Chunk {
    this.hash.update(data);
    this.wireBytes += data.length;
    return { seq: this.seq++, data, crc32: zlib.crc32(data) };
  }

  end(rawBytes: number): End {
    return { chunks: this.seq, wireBytes: this.wireBytes, sha256: this.hash.digest(), rawBytes };
  }

  get bytes(): number {
    return this.wireBytes;
  }
}

export class StreamIntegrityError extends Error {}

/** The destination's side of ChunkSealer: refuses reordered, corrupted or truncated streams. */
export class ChunkVerifier {
  private next = 0;
  private wireBytes = 0;
  private readonly hash = crypto.createHash('sha256');

  verify(c: Chunk): Buffer {
    if (c.seq !== this.next) throw new StreamIntegrityError(`chunk ${c.seq} arrived, expected ${this.next}`);
    if (zlib.crc32(c.data) !== c.crc32) throw new StreamIntegrityError(`chunk ${c.seq} fails its CRC32 check`);
    this.next++;
    this.wireBytes += c.data.length;
    this.hash.update(c.data);
    return c.data;
  }

  finish(end: End): void {
    if (end.chunks !== this.next) throw new StreamIntegrityError(`stream truncated: ${this.next} of ${end.chunks} chunks`);
    if (end.wireBytes !== this.wireBytes) throw new StreamIntegrityError(`stream has ${this.wireBytes} bytes, sender sent ${end.wireBytes}`);
    const digest = this.hash.digest();
    if (!digest.equals(end.sha256)) throw new StreamIntegrityError('stream SHA-256 does not match the sender\'s');
  }

  get bytes(): number {
    return this.wireBytes;
  }
}

/** Counts bytes passing through (raw tar bytes before compression). */
export class ByteCounter extends Transform {
  bytes = 0;
  override _transform(data: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += data.length;
    done(null, data);
  }
}
