// SIGTERM to an agent: what it runs is ended as a failure would end it, never left half-done.
// Pushes from here roll back (a frozen container is thawed, running, its state intact) unless
// their commit exchange has begun, which then finishes (source/stopping.ts); migrations into
// here roll back (their target removed) until they have said Restored: the source commits next,
// and cutting that exchange would leave the outcome unknown to it (its container stays frozen).
// The agent exits once all have ended.
import { MigrationError, type DestinationChannel, type MigrateReply } from '@livemig/core';

export class MigrationsInFlight {
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<void>>();

  /** Aborted once the agent stops. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  get count(): number {
    return this.running.size;
  }

  /** Counts `work` as in flight until it settles; returns it. */
  track<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(() => undefined, () => undefined);
    this.running.add(settled);
    void settled.then(() => this.running.delete(settled));
    return work;
  }

  /** Stops every migration in flight that may still roll back; resolves once none is left. */
  async stop(): Promise<void> {
    this.stopping.abort();
    while (this.running.size > 0) await Promise.all([...this.running]);
  }

  /**
   * An incoming migration's stream: once the agent stops, a read fails (and the migration rolls
   * back), until the destination has sent Restored.
   */
  incoming(ch: DestinationChannel, nodeName: string): DestinationChannel {
    const signal = this.signal;
    let restored = false;
    const stopped = (): MigrationError => new MigrationError('aborted', `the agent on ${nodeName} is stopping (SIGTERM)`);
    return {
      send: (reply: MigrateReply) => {
        if (reply.body === 'restored') restored = true;
        ch.send(reply);
      },
      requests: {
        next: () => {
          const next = ch.requests.next();
          if (restored) return next;
          if (signal.aborted) return Promise.reject(stopped());
          let onStop: (() => void) | undefined;
          const stop = new Promise<never>((_resolve, reject) => {
            onStop = () => reject(stopped());
            signal.addEventListener('abort', onStop, { once: true });
          });
          return Promise.race([next, stop]).finally(() => onStop && signal.removeEventListener('abort', onStop));
        },
      },
    };
  }
}
