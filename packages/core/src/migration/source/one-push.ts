// What every phase of one push is handed: the agent's context, the operator's options, the
// container's facts, the stream to the destination, the phase clock, and the push's state as the
// phases leave it (what a rollback must undo).
import type { SourceChannel } from '../../protocol/channels';
import type { LazyPagesMode, PushEvent } from '../../rpc/messages';
import type { SourceContext } from '../context';
import type { SourceRecord } from '../migration-record';
import type { SourceFacts } from './facts';
import type { FreezeTurn } from './freeze-turns';
import type { SourceLease } from './lease';
import type { PhaseClock } from './phase-clock';

export interface PushOptions {
  container: string;
  /** The destination agent's address, as given (kept in the record for crash recovery). */
  destination: string;
  keepSource: boolean;
  compressLevel: number;
  /** Dump, then transfer (nothing overlaps): the CRIU floor, for measurements. */
  serial: boolean;
  /** Send the memory while the container runs, then after the freeze only what changed. */
  precopy: boolean;
  /** Resume on the destination before the memory is in (post-copy from its own images). */
  lazyPages: LazyPagesMode;
  /**
   * Wait for this agent's turn to freeze before the disk rounds and the pre-copy rather than
   * after them: they then run while no other container of this agent copies or is frozen (a
   * drain with one push at a time, whose next push's pre-flight runs ahead meanwhile). At most
   * timeouts.turnBeforeCopyMs: then it copies anyway and takes the turn after, as pushes in
   * parallel do.
   */
  turnBeforeCopy?: boolean;
  /** Opens the stream to the destination agent (after local checks passed). */
  connect: () => Promise<SourceChannel>;
  emit: (ev: PushEvent) => void;
  /** Aborted when the agent stops (SIGTERM): the push rolls back, unless it is committing (stopping.ts). */
  signal?: AbortSignal;
}

export interface PushState {
  readonly migrationId: string;
  /** In the state dir: the record (a crash's recovery reads it). */
  readonly workDir: string;
  /** Where the checkpoint is written: the work dir itself, or in memory. */
  readonly scratch: string;
  readonly imagesDir: string;
  /** How much memory the pre-copy may send (0: none). */
  readonly precopyBytes: number;
  /** The volumes and the upper dir go in rounds before the freeze. */
  readonly diskRounds: boolean;
  /** Written before the freeze (migration-record.ts). */
  record?: SourceRecord;
  frozen: boolean;
  /** criu dump, once started. */
  dumping?: Promise<void>;
  /** The commit exchange has begun: a stopping agent lets the push finish. */
  committing: boolean;
  committed: boolean;
  /** Commit sent, the destination's answer unknown: the tree stays frozen. */
  undecided: boolean;
  /** This push's turn to be frozen (FreezeTurns), given back once its container runs again somewhere. */
  freezeTurn?: FreezeTurn;
  /** The turn asked for (queued) and not yet given: resolves with it (then set as freezeTurn). */
  freezeTurnAsked?: Promise<FreezeTurn>;
  /** From the checkpoint's End on: the beats read and echoed (source/lease.ts). */
  lease?: SourceLease;
  /** The destination said NOT_COMMITTED: its copy is gone, this one may resume at once. */
  copyGone?: boolean;
}

export interface Push {
  ctx: SourceContext;
  opts: PushOptions;
  f: SourceFacts;
  ch: SourceChannel;
  clock: PhaseClock;
  state: PushState;
}
