import { describe, expect, it } from 'vitest';
import {
  PROTOCOL_VERSION,
  type DestinationChannel,
  type MigrateReply,
  type MigrateRequest,
} from '@livemig/core';
import { admitPrepare } from './admit-prepare';
import { PermissionDeniedError } from './peer-access';

const container = {
  specVersion: 1, name: 'web', imageId: 'sha256:00', imageRef: 'busybox:latest', entrypoint: [], cmd: ['sleep', '1'],
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

const gate = { peer: { role: 'node' as const, name: 'node1' }, idleTimeoutMs: 5_000 };

describe('admitting a Prepare', () => {
  it('hands the whole stream on, the Prepare first, when the caller is the node it names', async () => {
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

  it('on an --insecure agent (no identity), lets any name through', async () => {
    await expect(admitPrepare(channel([prepare('anyone')]), { peer: null, idleTimeoutMs: 5_000 })).resolves.toBeDefined();
  });

  it('cuts off a caller that sends no Prepare within the idle timeout (it holds an incoming slot)', async () => {
    const silent: DestinationChannel = { send: () => undefined, requests: { next: () => new Promise(() => undefined) } };
    await expect(admitPrepare(silent, { ...gate, idleTimeoutMs: 50 })).rejects.toThrow('the source sent nothing for 0.05 s (--idle-timeout): cut off');
  });
});
