// The end of a push either way: after the commit, the source copy goes; after a failure before
// it, everything is undone and the container runs here as before.
import { CriuError } from '../../criu/criu-runner';
import { MigrationError } from '../../protocol/migration-error';
import { injectedFault } from '../../util/fault';
import { thawCgroup } from '../cgroup-freezer';
import { discardWorkDir, keepCriuLog } from '../migration-record';
import { removeSourceCopy } from '../source-copy';
import { untilCopyGone } from './lease';
import type { Push } from './one-push';

/**
 * After the commit the container runs on the destination whatever happens here, so a failure to
 * remove the source copy is reported (returned), not thrown: the push did move it. Its record
 * stays, and the agent finishes the removal at its next start (recoverMigrations).
 */
export async function cleanUpSource(p: Push): Promise<string> {
  const { ctx, opts, state } = p;
  const record = state.record;
  if (!record) throw new Error('cleanup before the record was written');
  p.clock.start('cleanup');
  let why = '';
  try {
    if (injectedFault('fail-source-cleanup')) throw new Error('injected fault: fail-source-cleanup');
    await removeSourceCopy(ctx.docker, record);
    discardWorkDir(ctx.stateDir, state.workDir, state.scratch);
  } catch (err) {
    why = err instanceof Error ? err.message : String(err);
    ctx.log(`push of ${record.name}: committed, but removing the source copy failed: ${why}; finished at this agent's next start`);
  }
  p.clock.done('cleanup', why ? `failed: ${why}` : opts.keepSource ? 'source kept, stopped' : 'source removed');
  return why;
}

/**
 * A failure before the commit: the destination is told (the stream is cancelled: it removes its
 * copy), the frozen tree resumes here once CRIU has let go of it and (after End) the destination's
 * copy is provably gone, the checkpoint goes (CRIU's
 * log is kept when CRIU failed). Returns the error to throw. After an unknown commit outcome
 * nothing is undone: the tree stays frozen until the destination answers.
 */
export async function rollBack(p: Push, err: unknown): Promise<unknown> {
  const { ctx, f, ch, state } = p;
  if (state.committed || state.undecided) return err;
  ch.cancel();
  // CRIU puts the freezer back as it found it (FROZEN) when it exits: thaw after that.
  await state.dumping?.catch(() => undefined);
  if (state.frozen) {
    const lease = state.lease;
    if (lease && !state.copyGone) {
      // The destination may run its copy: resume here only once it is gone (protocol/lease.ts).
      const t0 = performance.now();
      const why = await untilCopyGone(lease.thawAt(), () => ctx.askCommitted(p.opts.destination, state.migrationId));
      ctx.log(`push of ${f.name}: ${why === 'lease' ? 'the lease ran out' : 'the destination rolled back'} ${(performance.now() - t0).toFixed(0)} ms after the failure; resuming it here`);
    }
    thawCgroup(f.freezerDir);
    ctx.log(`push of ${f.name} failed after the freeze; resumed it here`);
  }
  const log = err instanceof CriuError ? keepCriuLog(ctx.stateDir, state.migrationId, err.logFile) : '';
  discardWorkDir(ctx.stateDir, state.workDir, state.scratch);
  if (!state.frozen) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new MigrationError('failed', `${why}${log}; rolled back: ${f.name} is running on ${ctx.nodeName}`);
}
