import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SPEC_POLICY,
  PROTOCOL_VERSION,
  SPEC_VERSION,
  UnsupportedContainerError,
  type DestinationChannel,
  type MigrateReply,
  type MigrateRequest,
} from '@livemig/core';
import { admitPrepare } from './admit-prepare';
import { PermissionDeniedError } from './peer-access';

const container = {
  specVersion: SPEC_VERSION, name: 'web', imageId: 'sha256:00', imageRef: 'busybox:latest', entrypoint: [], cmd: ['sleep', '1'],
  config: { Hostname: 'h', Domainname: '', User: '', Env: [], WorkingDir: '', Labels: {}, ExposedPorts: {} },
  hostConfig: {}, networks: ['bridge'], mounts: [],
};

function prepare(sourceNode: string, hostConfig: Record<string, unknown> = {}): MigrateRequest {
  return {
    body: 'prepare',
    prepare: {
      protocolVersion: PROTOCOL_VERSION, migrationId: 'm1', sourceNode, estimatedBytes: 1, compressLevel: 0, precopyBytes: 0,
      specJson: JSON.stringify({ container: { ...container, hostConfig }, tree: { externalMounts: '', stdio: [] } }),
    },
  } as MigrateRequest;
}

/** A channel that yields `requests` and records replies. */
function channel(requests: MigrateRequest[]): DestinationChannel & { sent: MigrateReply[] } {
  const sent: MigrateReply[] = [];
  const it = requests[Symbol.iterator]();
  return { sent, send: (r) => void sent.push(r), requests: { next: () => Promise.resolve(it.next()) } };
}

const gate = { peer: { role: 'node' as const, name: 'node1' }, policy: DEFAULT_SPEC_POLICY, nodeName: 'node2' };

describe('admitting a Prepare', () => {
  it('hands the whole stream on, the Prepare first, when the caller is the node it names and the spec passes', async () => {
    const reqs = [prepare('node1'), { body: 'end' } as MigrateRequest];
    const ch = await admitPrepare(channel(reqs), gate);
    expect((await ch.requests.next()).value).toBe(reqs[0]);
    expect((await ch.requests.next()).value).toBe(reqs[1]);
    expect((await ch.requests.next()).done).toBe(true);
  });

  it('denies a Prepare naming another node than the certificate', async () => {
    await expect(admitPrepare(channel([prepare('node3')]), gate)).rejects.toThrow(PermissionDeniedError);
    await expect(admitPrepare(channel([prepare('node3')]), gate))
      .rejects.toThrow('permission denied: Prepare names source node "node3", the caller presented the node certificate of node1');
  });

  it('refuses a spec asking for host powers, naming the field, before the migration code sees it', async () => {
    const p = admitPrepare(channel([prepare('node1', { PidMode: 'host' })]), gate);
    await expect(p).rejects.toThrow(UnsupportedContainerError);
    await expect(admitPrepare(channel([prepare('node1', { CapAdd: ['SYS_ADMIN'] })]), gate))
      .rejects.toThrow(/^container spec refused on node2: hostConfig\.CapAdd: --cap-add SYS_ADMIN/);
  });

  it('on an --insecure agent (no identity), still applies the spec policy', async () => {
    const open = { ...gate, peer: null };
    await expect(admitPrepare(channel([prepare('anyone')]), open)).resolves.toBeDefined();
    await expect(admitPrepare(channel([prepare('anyone', { Privileged: true })]), open)).rejects.toThrow(/Privileged: --privileged/);
  });
});
