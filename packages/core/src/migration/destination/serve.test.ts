// The destination's orchestrator driven by a fake source: the real phases (checks, target
// creation, the pre-copy store, the untar into images, rootfs and volume, the commit marker),
// with a fake Docker over scratch dirs and the restore itself stubbed (it needs a real container).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ContainerInspect, DockerClient, ImageInspect } from '../../docker/docker-client';
import type { DestinationChannel } from '../../protocol/channels';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateReply, MigrateRequest, Prepare } from '../../rpc/messages';
import { ChunkSealer } from '../../stream/chunk-stream';
import { PROTOCOL_VERSION } from '../../version';
import { SPEC_VERSION, type ContainerSpec } from '../container-spec';
import type { DestinationContext } from '../context';
import { isCommitted, migrationsDir } from '../migration-record';
import type { PrepareSpec } from '../prepare-spec';
import { DEFAULT_SPEC_POLICY } from '../spec-policy';
import { serveMigration } from './serve';

const restore = vi.hoisted(() => ({ fails: false, cancelled: 0 }));
vi.mock('./restore-into-container', () => ({
  prepareRestore: () => ({
    run: async () => {
      if (restore.fails) throw new Error('criu restore failed (exit 1): stub');
      return { appPid: 7, resumeMs: 1, lazyPages: false, pagesInMs: 0 };
    },
    cancel: async () => void restore.cancelled++,
  }),
  shareMountsTool: () => '/bin/true',
}));

const MIGRATION = 'm-1';
const PAGE = Buffer.alloc(4096, 7);

/** A tar stream as the source makes one: an image, a rootfs file, a volume file. */
async function checkpointTar(): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: 'criu/inventory.img' }, 'image');
  pack.entry({ name: 'rootfs/hello' }, 'from the source');
  pack.entry({ name: 'volumes/data/table' }, 'rows');
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const b of pack) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

/** The source's requests, in protocol order (compression off: chunks carry raw bytes). */
async function sourceRequests(hostConfig: Record<string, unknown> = {}): Promise<MigrateRequest[]> {
  const container = {
    specVersion: SPEC_VERSION, name: 'web', imageId: 'sha256:img', imageRef: 'busybox:latest', entrypoint: [], cmd: ['sleep', '9'],
    config: { Hostname: 'web', Domainname: '', User: '', Env: [], WorkingDir: '', Labels: {}, ExposedPorts: {} },
    hostConfig, networks: [], mounts: [{ type: 'volume', name: 'data', source: '/unused', destination: '/data', readOnly: false }],
  } satisfies ContainerSpec;
  const spec: PrepareSpec = { container, tree: { externalMounts: '', stdio: [] } };
  const prepare: Prepare = {
    protocolVersion: PROTOCOL_VERSION, migrationId: MIGRATION, sourceNode: 'node1', specJson: JSON.stringify(spec),
    estimatedBytes: 1 << 20, compressLevel: 0, precopyBytes: 2 * PAGE.length, lazyRestore: 'LAZY_RESTORE_NO', diskRounds: false,
  };
  const pre = new ChunkSealer();
  const precopy = pre.seal(Buffer.concat([PAGE, PAGE]), 0);
  const cp = new ChunkSealer();
  const tarBytes = await checkpointTar();
  const chunk = cp.seal(tarBytes);
  return [
    { body: 'prepare', prepare },
    { body: 'precopy', precopy },
    { body: 'precopyEnd', precopyEnd: pre.end(2 * PAGE.length) },
    { body: 'chunk', chunk },
    { body: 'end', end: cp.end(tarBytes.length) },
    { body: 'commit', commit: {} },
  ];
}

class FakeSource implements DestinationChannel {
  readonly replies: MigrateReply[] = [];
  readonly requests: AsyncIterator<MigrateRequest>;

  constructor(script: MigrateRequest[]) {
    this.requests = (async function* () {
      yield* script;
    })();
  }

  send(reply: MigrateReply): void {
    this.replies.push(reply);
  }

  bodies(): string[] {
    return this.replies.map((r) => r.body);
  }
}

describe('serveMigration (destination orchestrator, fake source)', () => {
  let dir: string;
  let helper: ChildProcess;
  let calls: string[];
  let failStart: boolean;
  let imagePresent: boolean;
  const upper = (): string => path.join(dir, 'upper');
  const merged = (): string => path.join(dir, 'merged');
  const volume = (): string => path.join(dir, 'volume');

  function context(): DestinationContext {
    let created = false;
    const target = (): ContainerInspect => ({
      Id: 'cid', Name: '/web', State: { Running: true, Pid: helper.pid }, LogPath: '',
      GraphDriver: { Name: 'overlay2', Data: { UpperDir: upper(), MergedDir: merged() } },
      Mounts: [{ Type: 'volume', Name: 'data', Source: volume(), Destination: '/data' }],
    }) as unknown as ContainerInspect;
    const docker: Partial<DockerClient> = {
      inspectImage: async () => (imagePresent ? ({ Id: 'sha256:img' } as ImageInspect) : null),
      inspectContainer: async (id) => (created && id === 'cid' ? target() : null),
      volumeExists: async () => false,
      networkExists: async () => true,
      networkAddresses: async () => ({ subnets: [], used: [] }),
      connectNetwork: async () => undefined,
      createVolume: async (v) => (calls.push(`create volume ${v}`), v),
      createContainer: async () => ((created = true), calls.push('create'), 'cid'),
      startContainer: async () => {
        if (failStart) throw new Error('cannot start: fake');
        calls.push('start');
      },
      removeContainer: async (id) => void calls.push(`rm ${id}`),
      removeVolume: async (v) => void calls.push(`rm volume ${v}`),
    };
    return {
      docker: docker as DockerClient, nodeName: 'node2', stateDir: path.join(dir, 'state'), memScratchDir: '', criuPath: 'criu',
      helperPath: '/usr/local/lib/livemig/restore-init', criuCheck: async () => ({ ok: true, message: 'Looks good.' }), log: () => undefined,
      policy: DEFAULT_SPEC_POLICY,
    };
  }
  const left = (): string[] => (fs.existsSync(migrationsDir(path.join(dir, 'state'))) ? fs.readdirSync(migrationsDir(path.join(dir, 'state'))) : []);

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-serve-'));
    for (const d of [upper(), merged(), volume()]) fs.mkdirSync(d);
    helper = spawn('sleep', ['60']); // stands for the target's helper, waiting for the restore
    await new Promise((r) => setTimeout(r, 30));
    calls = [];
    failStart = false;
    imagePresent = true;
    restore.fails = false;
    restore.cancelled = 0;
  });

  afterEach(() => {
    helper.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers each phase in protocol order, applies the stream, marks the commit', async () => {
    const ch = new FakeSource(await sourceRequests());
    await serveMigration(context(), ch);
    expect(ch.bodies()).toEqual(['prepared', 'precopyStored', 'restored', 'committed']);
    expect(ch.replies[1]).toEqual({ body: 'precopyStored', precopyStored: { pages: 2 } });
    expect(fs.readFileSync(path.join(merged(), 'hello'), 'utf8')).toBe('from the source');
    expect(fs.readFileSync(path.join(volume(), 'table'), 'utf8')).toBe('rows');
    expect(calls).toEqual(['create volume data', 'create', 'start']);
    expect(isCommitted(path.join(dir, 'state'), MIGRATION)).toBe(true);
    expect(left()).toEqual([]);
  });

  it('refuses at Prepare what cannot work here, before it creates anything', async () => {
    imagePresent = false;
    const ch = new FakeSource(await sourceRequests());
    await expect(serveMigration(context(), ch)).rejects.toThrow(/base image busybox:latest .* is missing on node2/);
    expect(ch.bodies()).toEqual([]);
    expect(calls).toEqual([]);
    expect(left()).toEqual([]);
  });

  it('refuses at Prepare a spec its policy does not allow, naming the field, before it creates anything', async () => {
    const ch = new FakeSource(await sourceRequests({ PidMode: 'host' }));
    await expect(serveMigration(context(), ch)).rejects.toThrow(/^container spec refused on node2: hostConfig\.PidMode/);
    expect(ch.bodies()).toEqual([]);
    expect(calls).toEqual([]);
    expect(left()).toEqual([]);
  });

  /** The script with request `at` replaced (or, with `undefined`, the stream ending there). */
  async function broken(at: number, req?: (r: MigrateRequest) => MigrateRequest): Promise<MigrateRequest[]> {
    const script = await sourceRequests();
    return req ? script.map((r, i) => (i === at ? req(r) : r)) : script.slice(0, at);
  }

  it.each<[string, () => Promise<MigrateRequest[]> | MigrateRequest[], RegExp, string[]]>([
    ['create (the target does not start)', sourceRequests, /cannot start: fake/, []],
    ['precopy (a chunk fails its CRC)', () => broken(1, (r) => (r.body === 'precopy' ? { ...r, precopy: { ...r.precopy, crc32: r.precopy.crc32 ^ 1 } } : r)), /CRC32/, ['prepared']],
    ['checkpoint (the source goes before End)', () => broken(4), /the source closed the stream before the end of the stream/, ['prepared', 'precopyStored']],
    ['restored (criu restore fails)', sourceRequests, /criu restore failed/, ['prepared', 'precopyStored']],
    ['commit (something else instead of Commit)', () => broken(5, () => ({ body: 'end', end: { chunks: 0, wireBytes: 0, rawBytes: 0, crc32: 0 } })), /expected Commit, got end/, ['prepared', 'precopyStored', 'restored']],
  ])('a failure at %s removes all it made here', async (phase, script, why, replies) => {
    failStart = phase.startsWith('create');
    restore.fails = phase.startsWith('restored');
    const ch = new FakeSource(await script());
    const err = await serveMigration(context(), ch).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(why);
    expect(ch.bodies()).toEqual(replies);
    expect(calls.filter((c) => c.startsWith('rm'))).toEqual(['rm cid', 'rm volume data']);
    expect(isCommitted(path.join(dir, 'state'), MIGRATION)).toBe(false);
    expect(left()).toEqual([]);
    if (phase.startsWith('checkpoint')) expect((err as MigrationError).kind).toBe('aborted');
  });
});
