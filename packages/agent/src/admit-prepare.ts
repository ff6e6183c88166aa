// The destination's first look at a migration, before the migration code sees it: the Prepare a
// source sends names the source node and carries the container spec. Both are checked here,
// before anything is created: the node named must be the caller's certificate's, and the spec
// must pass this host's policy (spec-policy.ts).
import {
  MigrationError,
  SPEC_VERSION,
  checkSpecPolicy,
  type ContainerSpec,
  type DestinationChannel,
  type MigrateRequest,
  type PeerIdentity,
  type SpecPolicyOptions,
} from '@livemig/core';
import { PermissionDeniedError } from './peer-access';

export interface PrepareGate {
  /** The caller, from its certificate (null on --insecure agents: no identity to compare). */
  peer: PeerIdentity | null;
  policy: SpecPolicyOptions;
  nodeName: string;
}

/** Throws PermissionDeniedError, UnsupportedContainerError or MigrationError for a Prepare this node refuses. */
export function checkPrepare(req: MigrateRequest, gate: PrepareGate): void {
  if (req.body !== 'prepare') return; // the migration code refuses a stream that does not start with Prepare
  const p = req.prepare;
  if (gate.peer && p.sourceNode !== gate.peer.name) {
    throw new PermissionDeniedError(`permission denied: Prepare names source node "${p.sourceNode}", ` +
      `the caller presented the node certificate of ${gate.peer.name}`);
  }
  let spec: { container?: ContainerSpec };
  try {
    spec = JSON.parse(p.specJson) as { container?: ContainerSpec };
  } catch {
    throw new MigrationError('protocol', 'Prepare carries a container spec that is not JSON');
  }
  // Another spec version: the migration code refuses it with its own message.
  if (spec?.container?.specVersion !== SPEC_VERSION) return;
  checkSpecPolicy(spec.container, gate.policy, `on ${gate.nodeName}`);
}

/**
 * Reads the first request, checks it (checkPrepare), and returns a channel that gives it again
 * to the migration code, which then runs as if nothing had read before it.
 */
export async function admitPrepare(ch: DestinationChannel, gate: PrepareGate): Promise<DestinationChannel> {
  const first = await ch.requests.next();
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
