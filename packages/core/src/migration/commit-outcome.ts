// The one moment of a migration where the source cannot decide alone: Commit has been sent, and
// the destination's answer does not come (lost connection, timeout, an error). Resuming here could
// leave the container running on both hosts; removing it could leave it on none. The destination
// knows: it is asked on a new call, after this one is cancelled (so that, if Commit did not get
// there, the destination rolls back and the answer is final).

/** Asks a destination whether a migration committed there; null when it cannot be reached. */
export type CommitQuery = (destination: string, migrationId: string) => Promise<boolean | null>;

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
  ask(): Promise<boolean | null>;
}

export async function commitOutcome(step: CommitStep): Promise<CommitOutcome> {
  try {
    await step.commit();
    return { state: 'committed', confirmedLate: false };
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    step.cancel();
    const answer = await step.ask().catch(() => null);
    if (answer === true) return { state: 'committed', confirmedLate: true };
    if (answer === false) return { state: 'not-committed', why };
    return { state: 'unknown', why };
  }
}
