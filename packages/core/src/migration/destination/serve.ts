// The destination's side of one migration, driven by the source over one bidirectional stream,
// in protocol order (each step is the destination's end of a phase; source/ holds the other
// ends under the same names):
//   prepare     Prepare -> checks, then create + start the target container  -> Prepared
//   disk        rounds of the volumes' and upper dir's changes (each -> DiskStored) -> DiskDone
//   precopy     Precopy* -> the container's memory, read while it still runs -> PrecopyStored
//   checkpoint  Chunk* -> End: CRIU images, rootfs diff, volume data, log
//   restored    criu restore into the target             -> Resumed (lazily), Restored
//   commit      Commit -> keep it                        -> Committed
// A cold move (Prepare.cold, a stopped container) creates the target without starting it, takes
// the disk rounds into it, then goes straight to the commit.
// Up to End, a source silent for the idle timeout is cut off (protocol/idle-cutoff.ts); from End
// on, the lease (lease.ts): Heartbeat out, its echo in; silence for L kills the copy.
// Anything else (an error, the stream ending early, the lease running out) removes everything
// this migration made; a rolled-back marker then answers a recovering source (MigrationStatus).
import { CriuError } from '../../criu/criu-runner';
import { nextRequest, type DestinationChannel } from '../../protocol/channels';
import { cutOffWhenIdle } from '../../protocol/idle-cutoff';
import { MigrationError } from '../../protocol/migration-error';
import type { Prepare } from '../../rpc/messages';
import type { DestinationContext } from '../context';
import { InProgress } from '../in-progress';
import { keepCriuLog, markRolledBack } from '../migration-record';
import { parseSpec, type PrepareSpec } from '../prepare-spec';
import { receiveCheckpoint } from './checkpoint';
import { commitTarget } from './commit';
import { receiveDisk } from './disk';
import { checkPrepare } from './prepare';
import { receivePrecopy } from './precopy';
import { startFence } from './fence';
import { DestinationLease } from './lease';
import { leaseFor } from '../../protocol/lease';
import { restoreAndReport } from './restored';
import { Target } from './target';
import { trace } from '../../util/trace';

/** Migrations being served here: a source asking whether one committed waits for its end. */
export const servingMigrations = new InProgress();

/** Runs one migration on the destination; throws (after rolling back) on any failure. */
export async function serveMigration(ctx: DestinationContext, ch: DestinationChannel): Promise<void> {
  const first = await nextRequest(cutOffWhenIdle(ch, ctx.idleTimeoutMs), 'Prepare');
  if (first.body !== 'prepare') throw new MigrationError('protocol', `expected Prepare, got ${first.body}`);
  const spec = parseSpec(first.prepare);
  await servingMigrations.run(first.prepare.migrationId, () => servePrepared(ctx, ch, first.prepare, spec));
}

async function servePrepared(ctx: DestinationContext, ch: DestinationChannel, prepare: Prepare, spec: PrepareSpec): Promise<void> {
  const quiet = cutOffWhenIdle(ch, ctx.idleTimeoutMs); // up to the checkpoint's End
  trace('dst: prepare: check');
  const place = await checkPrepare(ctx, prepare, spec);
  trace('dst: prepare: checked');
  const t = new Target(ctx, prepare, spec, place);
  const lease = new DestinationLease({ leaseMs: leaseFor(prepare.leaseMs, ctx.leaseMs), send: (r) => ch.send(r), startFence });
  try {
    const id = await t.create();
    ctx.log(`migration ${prepare.migrationId}: ${t.name} created as ${id.slice(0, 12)}, waiting for the stream`);
    ch.send({ body: 'prepared', prepared: { containerId: id, nodeName: ctx.nodeName } });
    await receiveDisk(quiet, prepare, t);
    if (prepare.cold) {
      await t.finishCold();
      await commitTarget(ctx, quiet, t, nextRequest(quiet, 'Commit'), undefined);
      return;
    }
    await receivePrecopy(quiet, prepare, t);
    const { receiveMs } = await receiveCheckpoint(quiet, prepare, t);
    lease.startBeats();
    const leased = lease.requests(ch);
    const { commitNext } = await restoreAndReport(ctx, leased, t, receiveMs, lease);
    await commitTarget(ctx, leased, t, Promise.race([commitNext, lease.expired]), lease);
    ctx.log(`migration ${prepare.migrationId}: lease ${lease.leaseMs} ms, echoes at most ${lease.maxEchoGapMs.toFixed(0)} ms apart`);
  } catch (err) {
    if (err instanceof CriuError) err.message += keepCriuLog(ctx.stateDir, prepare.migrationId, err.logFile);
    throw err;
  } finally {
    lease.stop();
    if (!t.committed) {
      ctx.log(`migration ${prepare.migrationId}: rolling back ${t.name}`);
      // Only once the copy is provably gone may a source asking be told "not committed".
      if (await t.rollback()) markRolledBack(ctx.stateDir, prepare.migrationId);
    }
  }
}
