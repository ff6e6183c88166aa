// The restore, the destination's end: criu restore into the target, then Restored. The tree is
// let run only under the lease (its fence armed). A lazy restore says Resumed as soon as the tree
// runs, and watches the source and the lease from then on: a source gone, or silent for L, while
// the memory comes in would resume its own copy while this one runs.
import { nextRequest, type DestinationChannel } from '../../protocol/channels';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateRequest } from '../../rpc/messages';
import type { DestinationContext } from '../context';
import type { DestinationLease } from './lease';
import type { Target } from './target';

/** Restores, says Restored; resolves with the source's next request to come (what must be Commit). */
export async function restoreAndReport(
  ctx: DestinationContext,
  ch: DestinationChannel,
  t: Target,
  receiveMs: number,
  lease: DestinationLease,
): Promise<{ commitNext: Promise<MigrateRequest> }> {
  let commitNext: Promise<MigrateRequest> | undefined;
  const { appPid, resumeMs, pagesInMs, lazyPages } = await t.restore((restoreMs) => {
    ch.send({ body: 'resumed', resumed: { restoreMs } });
    // The restore stops if the stream ends or anything comes; the caller's rollback removes it.
    commitNext = nextRequest(ch, 'Commit');
    commitNext.catch(() => undefined); // awaited by the caller, unless the restore failed first
    const stop = commitNext.then((r): never => {
      throw new MigrationError('protocol', `expected nothing before Restored, got ${r.body}`);
    });
    stop.catch(() => undefined);
    return Promise.race([stop, lease.expired]);
  }, (helperPid) => lease.hold(helperPid));
  ctx.log(`migration ${t.migrationId}: ${t.name} restored (pid ${appPid}${lazyPages ? `, its memory copied in ${pagesInMs.toFixed(0)} ms after it resumed` : ''})`);
  ch.send({ body: 'restored', restored: { receiveMs, restoreMs: resumeMs, appPid, lazyPages, pagesInMs } });
  return { commitNext: commitNext ?? nextRequest(ch, 'Commit') };
}
