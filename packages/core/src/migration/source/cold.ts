// A cold move (a stopped container): after the disk rounds, which carried its upper dir and
// volumes whole (nothing changes them: they are final), the same commit exchange and cleanup as a
// live push; nothing is frozen, dumped or restored, and the destination's copy is created, not
// started. A failure before the commit leaves it here as it was (rollBack: nothing to thaw).
import { writeRecord } from '../migration-record';
import type { Prepared, Summary } from '../../rpc/messages';
import { sourceRecord } from './checkpoint';
import { cleanUpSource } from './cleanup';
import { commit } from './commit';
import type { DiskPrecopied } from './disk';
import type { Push } from './one-push';
import { summaryOf } from './summary';

export async function commitCold(p: Push, prepared: Prepared, disk: DiskPrecopied | undefined): Promise<Summary> {
  const { state } = p;
  // A restarted agent finishes the removal, or asks the destination, as after a live push.
  writeRecord(state.workDir, (state.record = sourceRecord(p)));
  p.clock.start('commit');
  state.committing = true;
  await commit(p, prepared);
  p.clock.done('commit', `${p.f.name} created on ${prepared.nodeName}, not started`);
  const sourceCleanupError = await cleanUpSource(p);
  return summaryOf(p, { prepared, downtimeMs: 0, disk, lazyPages: false, sourceCleanupError });
}
