// Prepare -> Prepared: the destination checks what it is asked to make, then makes and starts
// the target container (its helper waiting for the restore) before anything is frozen here.
import { expectReply } from '../../protocol/channels';
import type { Prepared } from '../../rpc/messages';
import { PROTOCOL_VERSION } from '../../version';
import { lazyRestoreFor } from '../lazy-restore-choice';
import type { Push } from './one-push';

export async function prepare(p: Push): Promise<Prepared> {
  const { ctx, opts, f, ch, state } = p;
  await ch.send({
    body: 'prepare',
    prepare: {
      protocolVersion: PROTOCOL_VERSION,
      migrationId: state.migrationId,
      sourceNode: ctx.nodeName,
      specJson: JSON.stringify(f.prepare),
      estimatedBytes: f.estimatedBytes,
      compressLevel: opts.compressLevel,
      precopyBytes: state.precopyBytes,
      lazyRestore: f.cold ? 'LAZY_RESTORE_NO' : lazyRestoreFor(opts.lazyPages, f.memoryBytes, opts.serial),
      diskRounds: state.diskRounds,
      fileBytes: f.fileBytes + f.logBytes,
      leaseMs: ctx.leaseMs,
      cold: f.cold,
    },
  });
  const prepared = (await expectReply(ch, 'prepared', ctx.timeouts.prepareMs)).prepared;
  p.clock.done('preflight', `${prepared.nodeName} ready, container ${prepared.containerId.slice(0, 12)} ${f.cold ? 'created' : 'waiting'}`);
  return prepared;
}
