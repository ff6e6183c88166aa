// The source's side of a sealed chunk stream (the pre-copy or the checkpoint): raw bytes in,
// zstd frames out as chunks to the destination, progress on the way, End at the end.
import type { PushEvent } from '../rpc/messages';
import { chunkRequest, endRequest, type SealedStream, type SourceChannel } from '../protocol/channels';
import { within } from '../protocol/within';
import { ChunkEncoder, ChunkSealer } from './chunk-stream';

/**
 * A chunk holds 1 MiB of raw bytes, but pages reused from the pre-copy are a few bytes of runs
 * each, which the destination must have to copy those pages while CRIU still dumps: a partly
 * filled chunk goes once its oldest byte has waited this long (see also the checkpoint's quiet
 * marks, source/checkpoint.ts).
 */
const MAX_CHUNK_DELAY_MS = 5;

export interface SealedSenderOptions {
  ch: SourceChannel;
  stream: SealedStream;
  compressLevel: number;
  /** Each chunk is handed to the transport within this (its backpressure bounds memory). */
  stallMs: number;
  /** For progress: the raw bytes expected in all. */
  rawTotal: number;
  emit: (ev: PushEvent) => void;
  /** Awaited before each push: a stream sent while the container runs pauses for another's freeze. */
  yieldTo?: () => Promise<void>;
}

export class SealedSender {
  private readonly encoder: ChunkEncoder;
  private readonly sealer = new ChunkSealer();
  raw = 0;
  /** Of the pre-copy: the segment (process) whose pages the chunks hold. */
  segment = 0;
  private lastProgress = 0;
  /** When the encoder's oldest pending byte came (0: none pending). */
  private pendingSince = 0;

  constructor(private readonly o: SealedSenderOptions) {
    this.encoder = new ChunkEncoder(o.compressLevel);
  }

  get wire(): number {
    return this.sealer.bytes;
  }

  /** Takes `data` (copied: the caller may reuse it once this returns its promise). */
  async push(data: Buffer): Promise<void> {
    // Copied before the first await: callers hand `data` back to their pool as soon as this
    // returns its promise (pack-sender.ts). A yield before the copy let a pooled buffer be
    // refilled first: corrupt images on the destination (seen in the drain bench).
    this.raw += data.length;
    const full = this.encoder.push(data);
    const now = performance.now();
    if (full.length > 0 || !this.pendingSince) this.pendingSince = this.encoder.pending > 0 ? now : 0;
    await this.o.yieldTo?.();
    await this.send(full);
    if (this.pendingSince && now - this.pendingSince >= MAX_CHUNK_DELAY_MS) await this.flush();
  }

  /**
   * Sends what the encoder holds now, as a shorter chunk, and lets the transport write it: gRPC
   * writes from the event loop, which a run of already resolved promises (small entries that
   * the transport takes at once) would not reach until the dump is over.
   */
  async flush(): Promise<void> {
    this.pendingSince = 0;
    await this.send(this.encoder.end());
    await new Promise((resolve) => setImmediate(resolve));
  }

  async end(): Promise<void> {
    await this.flush();
    await this.o.ch.send(endRequest(this.o.stream, this.sealer.end(this.raw)));
  }

  private async send(chunks: Buffer[]): Promise<void> {
    for (const data of chunks) {
      const req = chunkRequest(this.o.stream, this.sealer.seal(data, this.segment));
      await within(this.o.stallMs, 'the destination to take more data', this.o.ch.send(req));
    }
    if (performance.now() - this.lastProgress > 250) {
      this.lastProgress = performance.now();
      const progress = { bytesRaw: this.raw, bytesWire: this.wire, bytesRawTotal: this.o.rawTotal, phase: this.o.stream === 'checkpoint' ? 'transfer' : this.o.stream };
      this.o.emit({ body: 'progress', progress });
    }
  }
}
