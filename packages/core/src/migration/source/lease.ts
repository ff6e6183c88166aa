// The source's end of the lease (protocol/lease.ts): from the checkpoint's End on, every reply is
// read at once (not when a phase asks for one), each Heartbeat echoed and noted; the phases read
// the other replies through channel(). After a failure before Commit, untilCopyGone says when
// the frozen copy here may resume: the destination's answer, or the lease run out.
import type { SourceChannel } from '../../protocol/channels';
import { sourceThawAt } from '../../protocol/lease';
import type { MigrateReply, MigrationState } from '../../rpc/messages';

export class SourceLease {
  /** When the newest beat was read (undefined: none since End: the destination cannot have resumed). */
  lastBeatAt: number | undefined;
  /** When anything was last read from the destination. */
  lastHeardAt = performance.now();
  /** Largest gap between two beats read, for the log (how close a healthy link came to L). */
  maxBeatGapMs = 0;
  private readonly queued: MigrateReply[] = [];
  private failure: unknown;
  private failed = false;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(private readonly ch: SourceChannel, readonly leaseMs: number) {
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for (;;) {
        const r = await this.ch.reply();
        this.lastHeardAt = performance.now();
        if (r.body === 'heartbeat') {
          if (this.lastBeatAt !== undefined) this.maxBeatGapMs = Math.max(this.maxBeatGapMs, this.lastHeardAt - this.lastBeatAt);
          this.lastBeatAt = this.lastHeardAt;
          // Echoed even after Commit went: until Committed, the destination's copy lives on it.
          if (!this.closed) this.ch.send({ body: 'heartbeat', heartbeat: { seq: r.heartbeat.seq } }).catch(() => undefined);
          continue;
        }
        this.queued.push(r);
        this.wake?.();
      }
    } catch (err) {
      this.failure = err;
      this.failed = true;
      this.wake?.();
    }
  }

  /** The stream as the phases after End see it: the beats taken out. */
  channel(): SourceChannel {
    return {
      send: (req) => this.ch.send(req),
      reply: async () => {
        for (;;) {
          const r = this.queued.shift();
          if (r) return r;
          if (this.failed) throw this.failure;
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = undefined;
        }
      },
      cancel: () => {
        this.closed = true;
        this.ch.cancel();
      },
      close: () => {
        this.closed = true;
        this.ch.close();
      },
    };
  }

  /** When the frozen copy may resume if nothing else says so (protocol/lease.ts). */
  thawAt(): number {
    return sourceThawAt({ leaseMs: this.leaseMs, lastBeatAt: this.lastBeatAt, lastHeardAt: this.lastHeardAt, now: performance.now() });
  }
}

/** Why the copy here may resume. */
export type CopyGone = 'not-committed' | 'lease';

/**
 * Resolves once the destination's copy is provably gone: it says NOT_COMMITTED (rolled back, its
 * container removed), or the lease has run out (`thawAt`, performance.now() time: its fence killed
 * it). UNKNOWN or no answer proves nothing: the lease decides then. Only for a migration whose
 * Commit was never sent: after it, the destination may have committed.
 */
export async function untilCopyGone(thawAt: number, ask: () => Promise<MigrationState | null>): Promise<CopyGone> {
  let timer: NodeJS.Timeout | undefined;
  const lease = new Promise<CopyGone>((resolve) => (timer = setTimeout(() => resolve('lease'), Math.max(0, thawAt - performance.now()))));
  const answered = ask().then(
    (a) => (a === 'NOT_COMMITTED' ? ('not-committed' as const) : lease),
    () => lease,
  );
  try {
    return await Promise.race([lease, answered]);
  } finally {
    clearTimeout(timer);
  }
}
