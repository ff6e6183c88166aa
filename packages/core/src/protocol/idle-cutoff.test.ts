import { describe, expect, it } from 'vitest';
import type { MigrateReply, MigrateRequest } from '../rpc/messages';
import type { DestinationChannel } from './channels';
import { cutOffWhenIdle } from './idle-cutoff';
import { MigrationError } from './migration-error';

/** A source that sends `script` with the given pauses before each message. */
function pacedSource(script: Array<[number, MigrateRequest]>): DestinationChannel & { replies: MigrateReply[] } {
  const replies: MigrateReply[] = [];
  let i = 0;
  return {
    replies,
    send: (r) => void replies.push(r),
    requests: {
      next: () => {
        const step = script[i++];
        if (!step) return new Promise(() => undefined); // then nothing, ever
        return new Promise((resolve) => setTimeout(() => resolve({ done: false, value: step[1] }), step[0]));
      },
    },
  };
}

const commit: MigrateRequest = { body: 'commit', commit: {} };

describe('cutOffWhenIdle', () => {
  it('passes messages that come within the timeout, however long the whole takes, and replies through', async () => {
    const src = pacedSource([[60, commit], [60, commit], [60, commit]]);
    const ch = cutOffWhenIdle(src, 100);
    for (let k = 0; k < 3; k++) expect((await ch.requests.next()).value).toEqual(commit);
    ch.send({ body: 'committed', committed: {} });
    expect(src.replies).toHaveLength(1);
  });

  it('fails a read (aborted, one line) once the source has sent nothing for the timeout', async () => {
    const ch = cutOffWhenIdle(pacedSource([[10, commit]]), 150);
    await ch.requests.next();
    const t0 = performance.now();
    const err = await ch.requests.next().catch((e: unknown) => e);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as MigrationError).kind).toBe('aborted');
    expect((err as Error).message).toBe('the source sent nothing for 0.15 s (--idle-timeout): cut off');
  });
});
