// The source's side of one migration, in protocol order (each step is the source's end of a
// phase; destination/ holds the other ends under the same names):
//   facts     pre-flight: local facts and refusals, before anything is frozen
//   prepare   Prepare -> Prepared: the destination makes the target container
//   disk      the volumes and the upper dir, in rounds while the container runs
//   precopy   the container's memory, read while it runs, to the destination's store
//   checkpoint  freeze, criu dump, the checkpoint as one tar stream while CRIU writes it
//   restored  the destination restores it (Resumed, when lazily) -> Restored
//   commit    Commit -> Committed
//   cleanup   the source copy goes; or, on a failure before the commit, the rollback
// A failure after the freeze resumes the frozen tree: the container keeps running here; after
// the checkpoint's End only once the destination's copy is provably gone (the lease: lease.ts).
import crypto from 'node:crypto';
import path from 'node:path';
import { MigrationError } from '../../protocol/migration-error';
import type { Summary } from '../../rpc/messages';
import { isValidLevel } from '../../stream/compress-level';
import type { SourceContext } from '../context';
import { migrationsDir } from '../migration-record';
import { makeMigrationScratch } from '../scratch-dir';
import { freezeAndDump, sendCheckpoint } from './checkpoint';
import { cleanUpSource, rollBack } from './cleanup';
import { precopyDisk } from './disk';
import { commitCold } from './cold';
import { commit } from './commit';
import { gatherFacts, scratchFor } from './facts';
import type { Push, PushOptions, PushState } from './one-push';
import { PhaseClock } from './phase-clock';
import { summaryOf } from './summary';
import { SourceLease } from './lease';
import { precopy } from './precopy';
import { prepare } from './prepare';
import { awaitRestored } from './restored';
import { agentStopping, cancelWhenStopping } from './stopping';
import { outsideFreezes, settledOrAfter } from './freeze-turns';
import { trace } from '../../util/trace';

export type { PushOptions } from './one-push';

/**
 * The most memory a pre-copy sends: its index costs the source ~30 bytes a page (4 GiB: ~32
 * MiB); pages past it are sent after the freeze.
 */
export const MAX_PRECOPY_BYTES = 4 * 1024 ** 3;

/** Runs a push; resolves with the summary, or throws after rolling back. */
export async function runPush(ctx: SourceContext, opts: PushOptions): Promise<Summary> {
  const clock = new PhaseClock(opts.emit, opts.container);
  clock.start('preflight');
  if (!isValidLevel(opts.compressLevel)) throw new MigrationError('precondition', `unsupported compression level ${opts.compressLevel}`);
  // The pre-flight (facts, the destination's Health, its docker create and start at Prepare) runs
  // while none of this agent's containers is frozen: on a small host it slows their dump and restore.
  const f = await outsideFreezes(ctx.freezeTurns, () => gatherFacts(ctx, opts.container));
  trace(`src ${opts.container}: facts`);
  const under = scratchFor(ctx, f);
  // A --serial push measures the CRIU floor: nothing before the freeze either.
  const beforeFreeze = opts.precopy && !opts.serial && !f.cold;
  const precopyBytes = beforeFreeze ? Math.min(f.estimatedBytes, MAX_PRECOPY_BYTES) : 0;
  ctx.inFlight.add(f.inspect.Id);
  try {
    if (opts.signal?.aborted) throw agentStopping(ctx);
    const ch = await outsideFreezes(ctx.freezeTurns, () => opts.connect());
    trace(`src ${opts.container}: connected`);
    const migrationId = crypto.randomUUID();
    const scratch = path.join(under, migrationId);
    const state: PushState = {
      migrationId,
      workDir: path.join(migrationsDir(ctx.stateDir), migrationId),
      scratch,
      imagesDir: path.join(scratch, 'images'),
      precopyBytes,
      diskRounds: beforeFreeze || f.cold, // cold: the rounds carry it all
      frozen: false,
      committing: false,
      committed: false,
      undecided: false,
    };
    return await pushConnected({ ctx, opts, f, ch, clock, state });
  } finally {
    ctx.inFlight.delete(f.inspect.Id);
  }
}

/**
 * Asks for this push's turn to be frozen (once: its place in the queue is kept) and waits for it,
 * at most `atMostMs` (then the turn stays asked for; a later call waits for it).
 */
async function waitForFreezeTurn(p: Push, stopped: () => boolean, atMostMs?: number): Promise<void> {
  const turns = p.ctx.freezeTurns;
  if (turns && !p.state.freezeTurn) {
    const asked = (p.state.freezeTurnAsked ??= turns.take().then((turn) => (p.state.freezeTurn = turn)));
    await (atMostMs === undefined ? asked : settledOrAfter(asked, atMostMs));
  }
  if (stopped()) throw agentStopping(p.ctx); // stopped while it waited for its turn
}

async function pushConnected(p: Push): Promise<Summary> {
  const stop = cancelWhenStopping(p);
  try {
    makeMigrationScratch(p.state.scratch); // 0700 before CRIU writes memory there; rollBack removes it
    const prepared = await outsideFreezes(p.ctx.freezeTurns, () => prepare(p));
    // The turn to be frozen: after the pre-copy, so pushes in parallel overlap their disk rounds
    // and pre-copies; or before both (a drain's push whose pre-flight ran ahead beside the push
    // before it), so that its last disk round and its pre-copy are not older than they would be
    // with the push before it done, and no other container of this agent copies or is frozen
    // meanwhile (unless the wait ran out).
    if (p.opts.turnBeforeCopy && !p.f.cold) await waitForFreezeTurn(p, stop.stopped, p.ctx.timeouts.turnBeforeCopyMs);
    const disk = p.state.diskRounds ? await precopyDisk(p) : undefined;
    if (p.f.cold) return await commitCold(p, prepared, disk);
    const pre = p.state.precopyBytes > 0 ? await precopy(p) : undefined;
    await waitForFreezeTurn(p, stop.stopped);
    await p.state.freezeTurn?.freezing(); // the others' heavy steps in flight end first
    const dumping = await freezeAndDump(p);
    const sent = await sendCheckpoint(p, dumping, pre?.index, disk);
    // From End on the destination may resume, under the lease: beats read and echoed from now.
    p.state.lease = new SourceLease(p.ch, p.ctx.leaseMs);
    p.ch = p.state.lease.channel();
    const { restored, downtimeMs } = await awaitRestored(p, prepared, dumping.freezeAt);
    if (stop.stopped()) throw agentStopping(p.ctx); // Restored came as the agent began to stop
    p.state.committing = true;
    await commit(p, prepared);
    p.ctx.log(`push of ${p.f.name}: lease ${p.ctx.leaseMs} ms, beats read at most ${p.state.lease.maxBeatGapMs.toFixed(0)} ms apart`);
    const sourceCleanupError = await outsideFreezes(p.ctx.freezeTurns, () => cleanUpSource(p)); // docker rm: heavy too
    return summaryOf(p, { prepared, downtimeMs, disk, pre, sent, lazyPages: restored.lazyPages, sourceCleanupError });
  } catch (err) {
    throw await rollBack(p, stop.stopped() && !p.state.committing ? agentStopping(p.ctx) : err);
  } finally {
    p.state.freezeTurn?.release(); // after a rollback's thaw too
    void p.state.freezeTurnAsked?.then((turn) => turn.release()); // a turn still queued for: given back once it comes
    stop.off();
  }
}
