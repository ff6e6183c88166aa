// A source that goes quiet holds what the destination made for it (a created container, its
// volumes, a scratch dir with part of a checkpoint) and one of the agent's --max-incoming slots.
// Until the checkpoint is all in, nothing it waits for is the destination's doing, so a pause
// longer than the idle timeout is a stalled (or hostile) source: cut off, and its target rolled
// back. From the restore on, the destination works and the source waits: not timed here.
import type { DestinationChannel } from './channels';
import { MigrationError } from './migration-error';

/**
 * Default idle timeout. A healthy source's longest pause is a walk of the container's trees
 * that finds nothing to send (a later disk round, the frozen pass): seconds, tens of seconds
 * for millions of files on a cold cache; 120 s is also the longest the source waits for the
 * destination (Prepared, DEFAULT_TIMEOUTS.prepareMs).
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** `ch`, whose every read fails (aborted) when the source sends nothing for `ms`. */
export function cutOffWhenIdle(ch: DestinationChannel, ms: number): DestinationChannel {
  return {
    send: (reply) => ch.send(reply),
    requests: {
      next: () => {
        const next = ch.requests.next();
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new MigrationError('aborted', `the source sent nothing for ${ms / 1000} s (--idle-timeout): cut off`)), ms);
        });
        // The read left pending when cut off settles when the call ends; its result is nobody's.
        return Promise.race([next, idle]).finally(() => clearTimeout(timer));
      },
    },
  };
}
