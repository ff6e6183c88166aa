/**
 * Buffers of up to one size, handed back by their consumer for reuse. Why: V8 starts a
 * mark-compact for every ~64 MiB of fresh Buffers (external memory pressure); a fresh Buffer
 * per MiB moved made GC ~15% of an agent's CPU during a transfer.
 *
 * Lending is by object: only the very Buffer that take() returned comes back into use, once; any
 * other Buffer (a view of it, one given back twice, one never lent) is ignored.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly lent = new Set<Buffer>();

  constructor(
    readonly size: number,
    /** Buffers kept for reuse; more may be lent out, and are then left to the GC. */
    private readonly keep = 4,
  ) {}

  /** `length` (<= size) bytes, contents undefined, the caller's until given back. */
  take(length = this.size): Buffer {
    if (length > this.size) throw new RangeError(`BufferPool of ${this.size}-byte buffers asked for ${length}`);
    // A small one is its own (not lent): with none free, a fresh full-size buffer for a few
    // hundred bytes costs its page faults (~0.4 ms a MiB here), once per small CRIU image.
    if (length <= this.size / 16 && this.free.length === 0) return Buffer.allocUnsafe(length);
    const buf = Buffer.from(this.free.pop() ?? new ArrayBuffer(this.size), 0, length);
    this.lent.add(buf);
    return buf;
  }

  /** The taker is done with `buf`: no reference to its bytes may remain. */
  giveBack(buf: Buffer): void {
    if (!this.lent.delete(buf)) return;
    if (this.free.length < this.keep) this.free.push(buf.buffer as ArrayBuffer);
  }
}
