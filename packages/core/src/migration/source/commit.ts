// Commit -> Committed: from the moment Commit may have reached the destination, only it can say
// which copy lives. An answer lost on the way is asked for again (MigrationStatus); none at all
// leaves the tree frozen here, never running on both hosts.
import { expectReply } from '../../protocol/channels';
import { MigrationError } from '../../protocol/migration-error';
import type { Prepared } from '../../rpc/messages';
import { commitOutcome } from '../commit-outcome';
import { writeRecord } from '../migration-record';
import type { Push } from './one-push';
import { settleLater } from './undecided';

export async function commit(p: Push, prepared: Prepared): Promise<void> {
  const { ctx, opts, f, ch, state } = p;
  const record = state.record;
  if (!record) throw new Error('commit before the record was written');
  // From here a crash is ambiguous: a restarted agent asks the destination (MigrationStatus).
  writeRecord(state.workDir, { ...record, commitSent: true });
  const outcome = await commitOutcome({
    commit: async () => {
      await ch.send({ body: 'commit', commit: {} });
      await expectReply(ch, 'committed', ctx.timeouts.commitMs);
    },
    cancel: () => ch.cancel(),
    ask: () => ctx.askCommitted(opts.destination, state.migrationId),
  });
  if (outcome.state === 'not-committed') state.copyGone = true;
  if (outcome.state === 'not-committed') throw new MigrationError('failed', `${outcome.why} (${prepared.nodeName} did not commit)`);
  if (outcome.state === 'unknown') {
    state.undecided = true;
    settleLater(p);
    const kept = f.cold ? 'stays here, stopped,' : 'stays frozen';
    throw new MigrationError('failed', `${outcome.why}; cannot tell whether ${prepared.nodeName} committed, so ${f.name} ${kept} on ${ctx.nodeName} ` +
      `(never running on both) until ${prepared.nodeName} answers: asked every few seconds, and at the agent's next start; then resumed or removed`);
  }
  if (outcome.confirmedLate) ctx.log(`push of ${f.name}: the answer to Commit was lost; ${prepared.nodeName} confirmed it`);
  state.committed = true;
  writeRecord(state.workDir, (state.record = { ...record, commitSent: true, committed: true }));
  ch.close();
}
