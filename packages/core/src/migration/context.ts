// What an agent hands each end of a migration: its host, where it keeps things, and (per end)
// what that end needs besides.
import type { FreezeTurns } from './source/freeze-turns';
import type { DockerClient } from '../docker/docker-client';
import type { CommitQuery } from './commit-outcome';
import type { SpecPolicyOptions } from './spec-policy';

export interface HostContext {
  docker: DockerClient;
  nodeName: string;
  stateDir: string;
  /** tmpfs dir for checkpoints that fit in memory ('' = always the state dir). */
  memScratchDir: string;
  criuPath: string;
  log: (msg: string) => void;
}

/** How long the source waits on the destination before it gives up and rolls back. */
export const DEFAULT_TIMEOUTS = {
  prepareMs: 120_000, // create + start the target container
  stallMs: 60_000,    // one chunk handed to the transport
  restoreMs: 300_000, // receive the rest, apply, criu restore
  commitMs: 30_000,
  // A push asked to take its freeze turn before its disk rounds and pre-copy (a drain's next
  // push) waits this long at most, then copies beside the push before it: meanwhile its stream is
  // silent, and the destination cuts off a source silent for its idle timeout (120 s by default).
  turnBeforeCopyMs: 30_000,
};
export type Timeouts = typeof DEFAULT_TIMEOUTS;

export interface SourceContext extends HostContext {
  /** Containers being pushed from this agent, by ID: a second push of one is refused. */
  inFlight: Set<string>;
  timeouts: Timeouts;
  /** MigrationStatus on a destination: for a Commit whose answer was lost, or a lost destination. */
  askCommitted: CommitQuery;
  /** The lease announced in Prepare (protocol/lease.ts): how long a silent destination's copy may live. */
  leaseMs: number;
  /** One of this agent's containers frozen at a time (source/freeze-turns.ts); none: no turns. */
  freezeTurns?: FreezeTurns;
}

export interface DestinationContext extends HostContext {
  /** The static restore helper on this host, bind-mounted into every target container. */
  helperPath: string;
  criuCheck: () => Promise<{ ok: boolean; message: string }>;
  /** What this host lets a peer's container spec ask for (checked at Prepare, before anything is made). */
  policy: SpecPolicyOptions;
  /** A source silent this long before its checkpoint is all in is cut off (protocol/idle-cutoff.ts). */
  idleTimeoutMs: number;
  /** This agent's lease (protocol/lease.ts); a source announcing a shorter one gets that. */
  leaseMs: number;
}
