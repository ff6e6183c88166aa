// Which peer may call which RPC, read from the role in its certificate (peer-role.ts): a
// certificate from the CA opens the TLS session, its role decides what the session may do.
import * as grpc from '@grpc/grpc-js';
import { commonNameOf, identityOfCertificate, type PeerIdentity, type PeerRole } from '@livemig/core';

export type AgentRpc = 'push' | 'peerStatus' | 'health' | 'migrate' | 'migrationStatus' | 'checkpoint' | 'restore' | 'inspect' | 'inventory';

/**
 * Push, PeerStatus, Inventory, Checkpoint, Restore and Inspect are the operator's (the CLI's). Migrate and MigrationStatus are a source
 * agent's. Health both: the CLI's status asks it through its agent, and a source agent asks
 * its destination's before Migrate.
 */
const ROLES: Record<AgentRpc, readonly PeerRole[]> = {
  push: ['operator'],
  inventory: ['operator'],
  peerStatus: ['operator'],
  health: ['operator', 'node'],
  migrate: ['node'],
  migrationStatus: ['node'],
  checkpoint: ['operator'],
  restore: ['operator'],
  inspect: ['operator'],
};

/** The calls --peers limits: the ones that migrate into this node or ask about a migration. */
const LIMITED_BY_PEERS: readonly AgentRpc[] = ['migrate', 'migrationStatus'];

const RPC_NAME: Record<AgentRpc, string> = {
  push: 'Push', peerStatus: 'PeerStatus', health: 'Health', migrate: 'Migrate', migrationStatus: 'MigrationStatus',
  checkpoint: 'Checkpoint', restore: 'Restore', inspect: 'Inspect', inventory: 'Inventory',
};

export interface AccessPolicy {
  /** False for --insecure agents: plaintext has no certificates, hence no roles (as before). */
  authenticated: boolean;
  /** --peers: the only nodes whose certificates may migrate to this one (null: any node). */
  peers: readonly string[] | null;
}

/** What grpc-js server calls give about the TLS peer (a subset of its AuthContext). */
export interface PeerCall {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null;
}

/** A denied call: PERMISSION_DENIED, one line naming the role needed and the one presented. */
export class PermissionDeniedError extends Error {
  readonly code = grpc.status.PERMISSION_DENIED;
}

/**
 * The caller's identity when its certificate's role may call `rpc` (null on --insecure agents);
 * else throws PermissionDeniedError.
 */
export function admitPeer(call: PeerCall, rpc: AgentRpc, access: AccessPolicy): PeerIdentity | null {
  if (!access.authenticated) return null;
  const needed = ROLES[rpc];
  const wants = `${RPC_NAME[rpc]} needs ${needed.map((r) => `${r === 'operator' ? 'an' : 'a'} ${r}`).join(' or ')} certificate`;
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw) throw new PermissionDeniedError(`permission denied: ${wants}; the caller presented none`);
  let peer: PeerIdentity | null;
  try {
    peer = identityOfCertificate(raw);
  } catch (err) {
    throw new PermissionDeniedError(`permission denied: ${wants}; ${err instanceof Error ? err.message : String(err)}`);
  }
  if (peer === null) {
    throw new PermissionDeniedError(`permission denied: ${wants}; the caller's certificate (CN=${commonNameOf(raw)}) has no livemig role ` +
      '(made before roles: re-issue it with migrate-cli certs --reissue)');
  }
  if (!needed.includes(peer.role)) {
    throw new PermissionDeniedError(`permission denied: ${wants}; the caller presented the ${peer.role} certificate of ${peer.name}`);
  }
  if (peer.role === 'node' && access.peers !== null && LIMITED_BY_PEERS.includes(rpc) && !access.peers.includes(peer.name)) {
    throw new PermissionDeniedError(`permission denied: ${wants} of ${access.peers.join(', ')} (--peers); ` +
      `the caller presented the node certificate of ${peer.name}`);
  }
  return peer;
}
