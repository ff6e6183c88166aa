// The wire format of a migration: byte streams (the dump's page-server traffic, then one tar
// stream), zstd-compressed or not, cut into chunks that carry a sequence number and a chained CRC32.
import zlib from 'node:zlib';
import * as zstdBinding from 'zstd-napi/binding';
import type { Chunk, End } from '../rpc/messages';

/** Size of a chunk on the wire: big enough for loopback-speed HTTP/2, small enough to pipeline. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

/**
 * Raw bytes in, chunk payloads out: zstd at `level` (negative = zstd's fast levels; 0 = none).
 * Compresses straight into chunk-sized buffers (no re-chunking copy; zstd keeps what does not
 * fit yet), one zstd frame for the whole stream. flush() emits what is pending, so that a waiting
 * peer (CRIU's page-server protocol has round trips) gets its bytes now.
 */
export class ChunkEncoder {
  private readonly cctx: zstdBinding.CCtx | null;
  private out: Buffer;
  private pos = 0;

  constructor(
    readonly level: number,
    private readonly chunkSize = DEFAULT_CHUNK_SIZE,
  ) {
    this.out = Buffer.allocUnsafe(chunkSize);
    this.cctx = level === 0 ? null : new zstdBinding.CCtx();
    this.cctx?.setParameter(zstdBinding.CParameter.compressionLevel, level);
  }

  /** Takes `data`; returns the chunks that are full. */
  push(data: Buffer): Buffer[] {
    const full: Buffer[] = [];
    let src = data;
    while (src.length > 0) {
      if (this.cctx) {
        const [, produced, consumed] = this.cctx.compressStream2(this.out.subarray(this.pos), src, zstdBinding.EndDirective.continue);
        this.pos += produced;
        src = src.subarray(consumed);
      } else {
        const n = src.copy(this.out, this.pos);
        this.pos += n;
        src = src.subarray(n);
      }
      if (this.pos === this.chunkSize) full.push(this.take());
    }
    return full;
  }

  /** Everything taken so far, as chunks (the last one short). */
  flush(): Buffer[] {
    return this.drain(zstdBinding.EndDirective.flush);
  }

  /** Ends the stream (closes the zstd frame); the encoder is done. */
  end(): Buffer[] {
    return this.drain(zstdBinding.EndDirective.end);
  }

  private drain(op: zstdBinding.EndDirective): Buffer[] {
    const chunks: Buffer[] = [];
    for (let left = this.cctx ? 1 : 0; left > 0; ) {
      const [ret, produced] = this.cctx!.compressStream2(this.out.subarray(this.pos), Buffer.alloc(0), op);
      this.pos += produced;
      left = ret;
      if (this.pos === this.chunkSize) chunks.push(this.take());
    }
    if (this.pos > 0) chunks.push(this.take());
    return chunks;
  }

  private take(): Buffer {
    const chunk = this.out.subarray(0, this.pos);
    this.out = Buffer.allocUnsafe(this.chunkSize);
    this.pos = 0;
    return chunk;
  }
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
  return level !== 0 ? zstdDecompress(input) : input;
}

/**
 * Turns chunk payloads into Chunk messages and keeps the totals for the End message. The CRC32
 * is chained (each chunk's continues the previous one's), so one pass over the bytes checks every
 * chunk, their order and the whole stream. Tampering is TLS's job: an unkeyed hash sent inside
 * the same stream could be forged along with the data.
 */
export class ChunkSealer {
  private seq = 0;
  private wireBytes = 0;
  private crc = 0;

  seal(data: Buffer): Chunk {
    this.crc = zlib.crc32(data, this.crc);
    this.wireBytes += data.length;
    return { seq: this.seq++, data, crc32: this.crc };
  }

  end(rawBytes: number): End {
    return { chunks: this.seq, wireBytes: this.wireBytes, rawBytes, crc32: this.crc };
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
  private crc = 0;

  verify(c: Chunk): Buffer {
    if (c.seq !== this.next) throw new StreamIntegrityError(`chunk ${c.seq} arrived, expected ${this.next}`);
    const crc = zlib.crc32(c.data, this.crc);
    if (crc !== c.crc32) throw new StreamIntegrityError(`chunk ${c.seq} fails its CRC32 check`);
    this.crc = crc;
    this.next++;
    this.wireBytes += c.data.length;
    return c.data;
  }

  finish(end: End): void {
    if (end.chunks !== this.next) throw new StreamIntegrityError(`stream truncated: ${this.next} of ${end.chunks} chunks`);
    if (end.wireBytes !== this.wireBytes) throw new StreamIntegrityError(`stream has ${this.wireBytes} bytes, sender sent ${end.wireBytes}`);
    if (end.crc32 !== this.crc) throw new StreamIntegrityError('stream CRC32 does not match the sender\'s');
  }

  get bytes(): number {
    return this.wireBytes;
  }
}
