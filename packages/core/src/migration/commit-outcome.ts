// The one moment of a migration where the source cannot decide alone: Commit has been sent, and
// the destination's answer does not come (lost connection, timeout, an error). Resuming here could
// leave the container running on both hosts; removing it could leave it on none. The destination
// knows: it is asked on a new call, after this one is cancelled (so that, if Commit did not get
// there, the destination rolls back and the answer is final).
import type { MigrationState } from '../rpc/messages';

/**
 * Asks a destination what it knows of a migration (MigrationStatus); null when it cannot be
 * reached. Only COMMITTED and NOT_COMMITTED are answers: UNKNOWN (no trace of that id there) says
 * nothing about a copy that may run there (another agent at that address, a lost state dir).
 */
export type CommitQuery = (destination: string, migrationId: string) => Promise<MigrationState | null>;

export type CommitOutcome =
  | { state: 'committed'; confirmedLate: boolean }
  | { state: 'not-committed'; why: string }
  | { state: 'unknown'; why: string };

export interface CommitStep {
  /** Sends Commit and resolves on the destination's Committed; rejects on anything else. */
  commit(): Promise<void>;
  /** Cancels the call (a destination that has not committed then rolls back). */
  cancel(): void;
  /** The destination's answer on a new call. */
  ask(): Promise<MigrationState | null>;
}

export async function commitOutcome(step: CommitStep): Promise<CommitOutcome> {
  try {
    await step.commit();
    return { state: 'committed', confirmedLate: false };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    step.cancel();
    const answer = await step.ask().catch(() => null);
    if (answer === 'COMMITTED') return { state: 'committed', confirmedLate: true };
    if (answer === 'NOT_COMMITTED') return { state: 'not-committed', why };
    return { state: 'unknown', why: answer === 'UNKNOWN' ? `${why}; the destination has no trace of this migration` : why };
  }
}
