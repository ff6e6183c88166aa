// Commit -> Committed, the destination's end: the commit marker is what a recovering source
// asks for (MigrationStatus); once it is written the container lives here.
import type { DestinationChannel } from '../../protocol/channels';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateRequest } from '../../rpc/messages';
import { injectedFault } from '../../util/fault';
import type { DestinationContext } from '../context';
import { markCommitted } from '../migration-record';
import type { Target } from './target';

export async function commitTarget(ctx: DestinationContext, ch: DestinationChannel, t: Target, commitNext: Promise<MigrateRequest>): Promise<void> {
  const commit = await commitNext;
  if (commit.body !== 'commit') throw new MigrationError('protocol', `expected Commit, got ${commit.body}`);
  // Both on disk (fsynced) before Committed goes: after a power cut here the source must hear
  // "committed" when it asks, never "not committed" for a container that runs here.
  t.saveRecord(true);
  markCommitted(ctx.stateDir, t.migrationId);
  t.committed = true;
  const lost = injectedFault('lose-committed');
  if (!lost) ch.send({ body: 'committed', committed: {} });
  // Committed: the container lives here now, whatever happens to the temporary files.
  try {
    t.finish();
  } catch (err) {
    ctx.log(`migration ${t.migrationId}: cannot remove its temporary files: ${(err as Error).message}`);
  }
  if (lost) throw new MigrationError('failed', 'injected fault: Committed is not sent');
}
