// The destination's first look at a migration, before the migration code sees it: the Prepare a
// source sends names the source node, which must be the caller's certificate's. (The container
// spec it carries is checked against this host's policy by the migration code's Prepare check,
// before anything is created.)
import { cutOffWhenIdle, type DestinationChannel, type MigrateRequest, type PeerIdentity } from '@livemig/core';
import { PermissionDeniedError } from './peer-access';

export interface PrepareGate {
  /** The caller, from its certificate (null on --insecure agents: no identity to compare). */
  peer: PeerIdentity | null;
  /** A caller that sends no Prepare within this is cut off (it holds an incoming slot). */
  idleTimeoutMs: number;
}

/** Throws PermissionDeniedError for a Prepare that names another node than the caller's certificate. */
export function checkPrepare(req: MigrateRequest, gate: Pick<PrepareGate, 'peer'>): void {
  if (req.body !== 'prepare') return; // the migration code refuses a stream that does not start with Prepare
  const p = req.prepare;
  if (gate.peer && p.sourceNode !== gate.peer.name) {
    throw new PermissionDeniedError(`permission denied: Prepare names source node "${p.sourceNode}", ` +
      `the caller presented the node certificate of ${gate.peer.name}`);
  }
}

/**
 * Reads the first request, checks it (checkPrepare), and returns a channel that gives it again
 * to the migration code, which then runs as if nothing had read before it.
 */
export async function admitPrepare(ch: DestinationChannel, gate: PrepareGate): Promise<DestinationChannel> {
  const first = await cutOffWhenIdle(ch, gate.idleTimeoutMs).requests.next();
  if (!first.done) checkPrepare(first.value, gate);
  let replay: IteratorResult<MigrateRequest> | null = first;
  return {
    send: (reply) => ch.send(reply),
    requests: {
      next: () => {
        const r = replay;
        replay = null;
        return r ? Promise.resolve(r) : ch.requests.next();
      },
    },
  };
}
