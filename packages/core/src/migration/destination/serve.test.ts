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
import { withGrowth } from '../../protocol/checkpoint-layout';
import { ChunkSealer } from '../../stream/chunk-stream';
import { PROTOCOL_VERSION } from '../../version';
import { SPEC_VERSION, type ContainerSpec } from '../container-spec';
import type { DestinationContext } from '../context';
import { isCommitted, migrationState, migrationsDir } from '../migration-record';
import type { PrepareSpec } from '../prepare-spec';
import { DEFAULT_SPEC_POLICY } from '../spec-policy';
import { serveMigration } from './serve';

const restore = vi.hoisted(() => ({ fails: false, cancelled: 0 }));
vi.mock('./restore-into-container', () => ({
  prepareRestore: () => ({
    run: async (_resumed: unknown, gate?: (helperPid: number) => Promise<void>) => {
      if (restore.fails) throw new Error('criu restore failed (exit 1): stub');
      await gate?.(4242);
      return { appPid: 7, resumeMs: 1, lazyPages: false, pagesInMs: 0 };
    },
    cancel: async () => void restore.cancelled++,
  }),
  shareMountsTool: () => '/bin/true',
}));

/** The fence, faked: what the lease told it. */
const fence = vi.hoisted(() => ({ calls: [] as string[] }));
vi.mock('./fence', () => ({
  startFence: (pid: number) => {
    fence.calls.push(`start ${pid}`);
    return { extend: () => undefined, disarm: async () => (fence.calls.push('disarm'), true), stop: () => void fence.calls.push('stop') };
  },
}));

/** The cold target's own overlay mount, faked: a plain dir, copied to the fake merged dir at unmount. */
const coldMount = vi.hoisted(() => ({ calls: [] as string[], mergedDir: '' }));
vi.mock('./cold-rootfs', async () => {
  const nodeFs = await import('node:fs');
  return {
    mountRootfs: async (_t: unknown, at: string) => void (nodeFs.mkdirSync(at, { recursive: true }), coldMount.calls.push('mount')),
    unmountRootfs: async (at: string) => {
      nodeFs.cpSync(at, coldMount.mergedDir, { recursive: true });
      nodeFs.rmSync(at, { recursive: true });
      coldMount.calls.push('umount');
    },
  };
});

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
    estimatedBytes: 1 << 20, compressLevel: 0, precopyBytes: 2 * PAGE.length, lazyRestore: 'LAZY_RESTORE_NO', diskRounds: false, fileBytes: 64, leaseMs: 1000,
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

/** A cold move's requests: Prepare (cold), one disk round with a rootfs and a volume file, DiskDone, Commit. */
async function coldRequests(): Promise<MigrateRequest[]> {
  const [first] = await sourceRequests();
  if (first.body !== 'prepare') throw new Error('no Prepare');
  const pack = tar.pack();
  pack.entry({ name: 'rootfs/hello' }, 'upper dir');
  pack.entry({ name: 'volumes/data/table' }, 'rows');
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const b of pack) parts.push(b as Buffer);
  const round = Buffer.concat(parts);
  const disk = new ChunkSealer();
  return [
    { body: 'prepare', prepare: { ...first.prepare, cold: true, diskRounds: true, precopyBytes: 0, estimatedBytes: 0, leaseMs: 0 } },
    { body: 'disk', disk: disk.seal(round) },
    { body: 'diskEnd', diskEnd: disk.end(round.length) },
    { body: 'diskDone', diskDone: {} },
    { body: 'commit', commit: {} },
  ];
}

/** Plays the script; echoes each beat (as the source's lease does), ahead of what is left. */
class FakeSource implements DestinationChannel {
  readonly replies: MigrateReply[] = [];
  readonly requests: AsyncIterator<MigrateRequest>;
  private readonly echoes: MigrateRequest[] = [];

  /**
   * `silentAt`: from that request on, nothing more (a cut link): no echo, no end. `stall`: after
   * the script, the source sends nothing more and never goes.
   */
  constructor(script: MigrateRequest[], o: { echo?: boolean; silentAt?: number; stall?: boolean } = {}) {
    const echoes = this.echoes;
    this.echo = o.echo ?? true;
    this.requests = (async function* () {
      for (const [i, r] of script.entries()) {
        for (let wait = 0; wait < 5 && echoes.length === 0; wait++) await new Promise((w) => setTimeout(w, 5));
        while (echoes.length > 0) yield echoes.shift() as MigrateRequest;
        if (i === o.silentAt) await new Promise(() => undefined);
        yield r;
      }
      if (o.stall) await new Promise(() => undefined);
    })();
  }

  private readonly echo: boolean;

  send(reply: MigrateReply): void {
    if (reply.body === 'heartbeat') {
      if (this.echo) this.echoes.push({ body: 'heartbeat', heartbeat: { seq: reply.heartbeat.seq } });
      return;
    }
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
  let idleTimeoutMs: number;
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
      removeContainer: async (id) => void ((created = false), calls.push(`rm ${id}`)),
      removeVolume: async (v) => void calls.push(`rm volume ${v}`),
    };
    return {
      docker: docker as DockerClient, nodeName: 'node2', stateDir: path.join(dir, 'state'), memScratchDir: '', criuPath: 'criu',
      helperPath: '/usr/local/lib/livemig/restore-init', criuCheck: async () => ({ ok: true, message: 'Looks good.' }), log: () => undefined,
      policy: DEFAULT_SPEC_POLICY, idleTimeoutMs, leaseMs: 3000,
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
    idleTimeoutMs = 5_000;
    restore.fails = false;
    restore.cancelled = 0;
    fence.calls = [];
    coldMount.calls = [];
    coldMount.mergedDir = merged();
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

  it('cold: creates the target without starting it, applies the disk round through its own mount, commits without a restore', async () => {
    const ch = new FakeSource(await coldRequests());
    const ctx = { ...context(), criuCheck: async () => ({ ok: false, message: 'no CRIU needed for a cold move' }) };
    await serveMigration(ctx, ch);
    expect(ch.bodies()).toEqual(['prepared', 'diskStored', 'committed']);
    expect(calls).toEqual(['create volume data', 'create']); // never started
    expect(coldMount.calls).toEqual(['mount', 'umount']);
    expect(fence.calls).toEqual([]);
    expect(fs.readFileSync(path.join(merged(), 'hello'), 'utf8')).toBe('upper dir');
    expect(fs.readFileSync(path.join(volume(), 'table'), 'utf8')).toBe('rows');
    expect(isCommitted(path.join(dir, 'state'), MIGRATION)).toBe(true);
    expect(left()).toEqual([]);
  });

  it('cold: the stream ending before Commit unmounts, then removes the target and its volume', async () => {
    const ch = new FakeSource((await coldRequests()).slice(0, 3));
    await expect(serveMigration(context(), ch)).rejects.toThrow(/closed the stream/);
    expect(coldMount.calls).toEqual(['mount', 'umount']);
    expect(calls).toEqual(['create volume data', 'create', 'rm cid', 'rm volume data']);
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

  it('resumes the copy only under the lease: its fence armed before, disarmed at Commit', async () => {
    const ch = new FakeSource(await sourceRequests());
    await serveMigration(context(), ch);
    expect(fence.calls).toEqual(['start 4242', 'disarm']);
    expect(migrationState(path.join(dir, 'state'), MIGRATION)).toBe('COMMITTED');
  });

  it('a source that echoes no beat: the copy never resumes, all is removed, the id answers NOT_COMMITTED', async () => {
    const ch = new FakeSource(await sourceRequests(), { echo: false });
    await expect(serveMigration(context(), ch)).rejects.toThrow(/no heartbeat echoed by the source within the lease \(1000 ms\)/);
    expect(fence.calls).toEqual([]);
    expect(calls.filter((c) => c.startsWith('rm'))).toEqual(['rm cid', 'rm volume data']);
    expect(migrationState(path.join(dir, 'state'), MIGRATION)).toBe('NOT_COMMITTED');
  });

  it('the source going silent after Restored (a cut link): the lease runs out, the copy is removed', async () => {
    const ch = new FakeSource(await sourceRequests(), { silentAt: 5 });
    const started = performance.now();
    await expect(serveMigration(context(), ch)).rejects.toThrow(/the lease ran out: no echo from the source for 1000 ms/);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(ch.bodies()).toEqual(['prepared', 'precopyStored', 'restored']);
    expect(fence.calls).toEqual(['start 4242', 'stop']);
    expect(calls.filter((c) => c.startsWith('rm'))).toEqual(['rm cid', 'rm volume data']);
    expect(migrationState(path.join(dir, 'state'), MIGRATION)).toBe('NOT_COMMITTED');
  });

  it('an id it never saw is UNKNOWN, not NOT_COMMITTED', () => {
    expect(migrationState(path.join(dir, 'state'), 'never-seen')).toBe('UNKNOWN');
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

  it.each([
    ['after Prepare', 1, ['prepared']],
    ['after the pre-copy, before the checkpoint', 3, ['prepared', 'precopyStored']],
  ])('a source silent for the idle timeout %s is cut off, and all it made here removed', async (_when, sent, replies) => {
    idleTimeoutMs = 200;
    const ch = new FakeSource((await sourceRequests()).slice(0, sent), { stall: true });
    const t0 = performance.now();
    const err = await serveMigration(context(), ch).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect((err as MigrationError).kind).toBe('aborted');
    expect((err as Error).message).toBe('the source sent nothing for 0.2 s (--idle-timeout): cut off');
    expect(ch.bodies()).toEqual(replies);
    expect(calls.filter((c) => c.startsWith('rm'))).toEqual(['rm cid', 'rm volume data']);
    expect(left()).toEqual([]);
  });

  it('does not time the restore: a source waiting for Restored longer than the idle timeout commits', async () => {
    idleTimeoutMs = 100;
    const script = await sourceRequests();
    const ch = new FakeSource(script);
    const next = ch.requests.next.bind(ch.requests);
    // Commit comes 300 ms after End, as when the restore (lazy: the pages copied in) takes long.
    ch.requests.next = async () => {
      const r = await next();
      if (!r.done && r.value.body === 'commit') await new Promise((ok) => setTimeout(ok, 300));
      return r;
    };
    await serveMigration(context(), ch);
    expect(ch.bodies()).toEqual(['prepared', 'precopyStored', 'restored', 'committed']);
  });

  it('refuses a CRIU image larger than the memory Prepare announced allows, from its header', async () => {
    const script = await sourceRequests();
    const prepare = script[0].body === 'prepare' ? script[0].prepare : undefined;
    if (!prepare) throw new Error('no Prepare');
    const pack = tar.pack();
    const parts: Buffer[] = [];
    pack.on('data', (d) => parts.push(d as Buffer));
    pack.entry({ name: 'criu/pages-1.img', size: withGrowth(prepare.estimatedBytes) + 1 }, () => undefined).write(Buffer.alloc(4096));
    await new Promise((r) => setTimeout(r, 20));
    const chunk = new ChunkSealer().seal(Buffer.concat(parts));
    const ch = new FakeSource([...script.slice(0, 3), { body: 'chunk', chunk }], { stall: true });
    const err = await serveMigration(context(), ch).catch((e: unknown) => e);
    expect((err as Error).message).toBe(`unsafe tar entry "pages-1.img": size ${withGrowth(prepare.estimatedBytes) + 1} exceeds the byte budget (limit ${withGrowth(prepare.estimatedBytes)})`);
    expect(ch.bodies()).toEqual(['prepared', 'precopyStored']);
    expect(calls.filter((c) => c.startsWith('rm'))).toEqual(['rm cid', 'rm volume data']);
    expect(left()).toEqual([]);
  });
});

