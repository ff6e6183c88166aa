import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates } from '@livemig/core';
import { PermissionDeniedError, admitPeer, type AccessPolicy, type PeerCall } from './peer-access';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-access-'));
const tls: AccessPolicy = { authenticated: true, peers: null };

/** A server call whose TLS peer presented `name`.pem (DER, as grpc-js gives it), or nothing. */
function callFrom(name: string | null): PeerCall {
  const raw = name === null ? undefined
    : Buffer.from(fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8').replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  return { getAuthContext: () => (raw ? { sslPeerCertificate: { raw } } : {}) };
}

function denial(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).code).toBe(grpc.status.PERMISSION_DENIED);
    return (err as Error).message;
  }
  throw new Error('not denied');
}

describe('peer access by certificate role', () => {
  beforeAll(async () => {
    await makeCertificates(dir, [
      { name: 'node1', role: 'node', dns: ['node1'], ips: [] },
      { name: 'node3', role: 'node', dns: ['node3'], ips: [] },
      { name: 'client', role: 'operator', dns: [], ips: [] },
    ]);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('lets operators push and ask status, nodes migrate, and both ask health', () => {
    expect(admitPeer(callFrom('client'), 'push', tls)).toEqual({ role: 'operator', name: 'client' });
    expect(admitPeer(callFrom('client'), 'peerStatus', tls)).toEqual({ role: 'operator', name: 'client' });
    expect(admitPeer(callFrom('node1'), 'migrate', tls)).toEqual({ role: 'node', name: 'node1' });
    expect(admitPeer(callFrom('node1'), 'migrationStatus', tls)).toEqual({ role: 'node', name: 'node1' });
    expect(admitPeer(callFrom('node1'), 'health', tls)).toEqual({ role: 'node', name: 'node1' });
    expect(admitPeer(callFrom('client'), 'health', tls)).toEqual({ role: 'operator', name: 'client' });
  });

  it('denies the other role, in one line naming the role needed and the one presented', () => {
    expect(denial(() => admitPeer(callFrom('client'), 'migrate', tls)))
      .toBe('permission denied: Migrate needs a node certificate; the caller presented the operator certificate of client');
    expect(denial(() => admitPeer(callFrom('node1'), 'push', tls)))
      .toBe('permission denied: Push needs an operator certificate; the caller presented the node certificate of node1');
    expect(denial(() => admitPeer(callFrom(null), 'health', tls))).toMatch(/Health needs an operator or a node certificate; the caller presented none/);
  });

  it('--peers limits which nodes may migrate here, not who may ask health', () => {
    const only: AccessPolicy = { authenticated: true, peers: ['node1'] };
    expect(admitPeer(callFrom('node1'), 'migrate', only)).toEqual({ role: 'node', name: 'node1' });
    expect(denial(() => admitPeer(callFrom('node3'), 'migrationStatus', only)))
      .toBe('permission denied: MigrationStatus needs a node certificate of node1 (--peers); the caller presented the node certificate of node3');
    expect(admitPeer(callFrom('node3'), 'health', only)).toEqual({ role: 'node', name: 'node3' });
  });

  it('--insecure agents have no roles: everything as before', () => {
    expect(admitPeer(callFrom(null), 'migrate', { authenticated: false, peers: null })).toBeNull();
  });
});
