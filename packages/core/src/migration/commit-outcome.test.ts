import { describe, expect, it } from 'vitest';
import type { MigrationState } from '../rpc/messages';
import { commitOutcome, type CommitStep } from './commit-outcome';

function step(commit: () => Promise<void>, answer: MigrationState | null | Error): CommitStep & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    commit: () => {
      calls.push('commit');
      return commit();
    },
    cancel: () => calls.push('cancel'),
    ask: () => {
      calls.push('ask');
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
}

const lost = (): Promise<void> => Promise.reject(new Error('timed out after 5 s waiting for the destination\'s committed reply'));

describe('commitOutcome', () => {
  it('is committed when the destination answers Commit, without asking again', async () => {
    const s = step(() => Promise.resolve(), null);
    expect(await commitOutcome(s)).toEqual({ state: 'committed', confirmedLate: false });
    expect(s.calls).toEqual(['commit']);
  });

  it('asks the destination, after cancelling the call, when its answer is lost', async () => {
    const s = step(lost, 'COMMITTED');
    expect(await commitOutcome(s)).toEqual({ state: 'committed', confirmedLate: true });
    expect(s.calls).toEqual(['commit', 'cancel', 'ask']);
  });

  it('is not committed when the destination says so', async () => {
    const s = step(lost, 'NOT_COMMITTED');
    expect(await commitOutcome(s)).toEqual({ state: 'not-committed', why: expect.stringMatching(/timed out/) });
  });

  it('is unknown when the destination cannot be asked', async () => {
    expect((await commitOutcome(step(lost, null))).state).toBe('unknown');
    expect((await commitOutcome(step(lost, new Error('UNAVAILABLE')))).state).toBe('unknown');
  });

  it('is unknown, not "not committed", when the destination has no trace of the migration', async () => {
    const o = await commitOutcome(step(lost, 'UNKNOWN'));
    expect(o).toEqual({ state: 'unknown', why: expect.stringMatching(/no trace of this migration/) });
  });
});
