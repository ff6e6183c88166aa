// Commit -> Committed, the destination's end: the commit marker is what a recovering source
// asks for (MigrationStatus); once it is written the container lives here.
import type { DestinationChannel } from '../../protocol/channels';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateRequest } from '../../rpc/messages';
import { injectedFault } from '../../util/fault';
import type { DestinationContext } from '../context';
import { markCommitted } from '../migration-record';
import type { DestinationLease } from './lease';
import type { Target } from './target';

export async function commitTarget(
  ctx: DestinationContext,
  ch: DestinationChannel,
  t: Target,
  commitNext: Promise<MigrateRequest>,
  /** None for a cold move: nothing ran here before the commit, so nothing to fence. */
  lease: DestinationLease | undefined,
): Promise<void> {
  const commit = await commitNext;
  if (commit.body !== 'commit') throw new MigrationError('protocol', `expected Commit, got ${commit.body}`);
  if (injectedFault('hold-commit')) {
    ctx.log(`migration ${t.migrationId}: Commit came; held 2 s (fault hold-commit)`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
  // The fence stands down before the marker: a copy it killed is never committed, and once
  // disarmed nothing but a rollback removes it.
  await lease?.confirm();
  t.saveRecord(true);
  // The commit marker is THE commit point (a restarted agent reads it, not the record): durable
  // before Committed goes, so after a crash or power cut the source hears "committed" when it
  // asks, never "not committed" for a container that runs here; a crash before it is a rollback.
  if (injectedFault('crash-before-commit-marker')) process.kill(process.pid, 'SIGKILL');
  markCommitted(ctx.stateDir, t.migrationId);
  t.committed = true;
  const lost = injectedFault('lose-committed');
  lease?.stop();
  if (!lost) ch.send({ body: 'committed', committed: {} });
  // Committed: the container lives here now, whatever happens to the temporary files.
  try {
    t.finish();
  } catch (err) {
    ctx.log(`migration ${t.migrationId}: cannot remove its temporary files: ${(err as Error).message}`);
  }
  if (lost) throw new MigrationError('failed', 'injected fault: Committed is not sent');
}
