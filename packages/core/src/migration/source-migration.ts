// The source's side of one migration, top to bottom:
//   pre-flight (local facts, then the destination's Prepare) -> freeze + criu dump to a local dir
//   -> one tar stream -> zstd -> chunks over gRPC: the pages as CRIU writes them (unless serial),
//      then the other CRIU images, rootfs diff, volumes, log
//   -> destination restores -> Commit -> remove (or keep stopped) the source container.
// A failure after the freeze resumes the frozen tree: the container keeps running here.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar-stream';
import { dumpArgs, externalMountPoints } from '../criu/criu-options';
import { CriuError, runCriu } from '../criu/criu-runner';
import { parseMountInfo, type MountInfo } from '../criu/mountinfo';
import { overlayDirs, type ContainerInspect, type DockerClient } from '../docker/docker-client';
import { packTree, readTreeXattrs, type XattrSet } from '../fsdiff';
import type { MigrateReply, MigrateRequest, PushEvent, Summary } from '../rpc/messages';
import { ChunkEncoder, ChunkSealer } from '../stream/chunk-stream';
import { isValidLevel } from '../stream/compress-level';
import { PROTOCOL_VERSION } from '../version';
import { trace } from '../util/trace';
import {
  checkSupported,
  INTERNAL_PATHS,
  isRestoredContainer,
  specFromInspect,
} from './container-spec';
import type { PrepareSpec } from './destination-migration';
import { LOG_ENTRY, PREFIX } from './destination-migration';
import { injectedFault } from '../util/fault';
import { canFreeze, freezeCgroup, removeSourceCopy, thawCgroup, type SourceCopy } from './cgroup-freezer';
import { commitOutcome, type CommitQuery } from './commit-outcome';
import { MigrationError } from './migration-error';
import { discardWorkDir, keepCriuLog, migrationsDir, readRecords, writeRecord } from './migration-record';
import { within } from './within';
import { requireFreeDisk } from './disk-space';
import { packImages, MAX_PIECE } from './dump-follower';
import { BufferPool } from '../stream/buffer-pool';
import { dumpRootPid, netnsInode, pipesToReattach, processCgroupDirs, stdioOf } from './process-facts';

/** How long the source waits on the destination before it gives up and rolls back. */
export const DEFAULT_TIMEOUTS = {
  prepareMs: 120_000, // create + start the target container
  stallMs: 60_000,    // one chunk handed to the transport
  restoreMs: 300_000, // receive the rest, apply, criu restore
  commitMs: 30_000,
};
export type Timeouts = typeof DEFAULT_TIMEOUTS;

export interface SourceContext {
  docker: DockerClient;
  /** Containers being pushed from this agent, by ID: a second push of one is refused. */
  inFlight: Set<string>;
  timeouts: Timeouts;
  nodeName: string;
  stateDir: string;
  criuPath: string;
  log: (msg: string) => void;
  /** MigrationStatus on a destination: for a Commit whose answer was lost. */
  askCommitted: CommitQuery;
}

/** The transport to the destination: the gRPC duplex call, or a fake in tests. */
export interface SourceChannel {
  /** Resolves once the message is handed over and the transport can take more. */
  send(req: MigrateRequest): Promise<void>;
  /** The next reply; rejects with the destination's error. */
  reply(): Promise<MigrateReply>;
  /** Ends the call (the destination rolls back if it has not committed). */
  cancel(): void;
  /** Half-closes after Commit. */
  close(): void;
}

export interface PushOptions {
  container: string;
  /** The destination agent's address, as given (kept in the record for crash recovery). */
  destination: string;
  keepSource: boolean;
  compressLevel: number;
  /** Dump, then transfer (nothing overlaps): the CRIU floor, for measurements. */
  serial: boolean;
  /** Opens the stream to the destination agent (after local checks passed). */
  connect: () => Promise<SourceChannel>;
  emit: (ev: PushEvent) => void;
}

async function expectReply<K extends MigrateReply['body']>(
  ch: SourceChannel,
  body: K,
  timeoutMs: number,
): Promise<Extract<MigrateReply, { body: K }>> {
  const r = await within(timeoutMs, `the destination's ${body} reply`, ch.reply());
  if (r.body !== body) throw new MigrationError('protocol', `destination sent ${r.body}, expected ${body}`);
  return r as Extract<MigrateReply, { body: K }>;
}

/** Facts read before the freeze, all from the running container. */
interface SourceFacts {
  inspect: ContainerInspect;
  name: string;
  dumpPid: number;
  mounts: MountInfo[]; // the dumped tree's mountinfo
  upperDir: string;
  freezerDir: string; // the container's freezer cgroup (v1) or its cgroup (v2)
  prepare: PrepareSpec;
  dockerMountTargets: string[];
  estimatedBytes: number;
  /** Bytes of the rootfs diff and volumes, walked before the freeze (for progress). */
  fileBytes: number;
}

/** Total size of the regular files below a directory (no symlinks followed). */
function treeBytes(root: string): number {
  let total = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.lstatSync(p).size;
    }
  };
  if (fs.existsSync(root)) walk(root);
  return total;
}

function memoryUsage(dirs: Map<string, string>): number {
  for (const f of [`${dirs.get('memory')}/memory.usage_in_bytes`, `${dirs.get('')}/memory.current`]) {
    try {
      return Number(fs.readFileSync(f, 'utf8').trim());
    } catch {
      // not this cgroup version
    }
  }
  return 0;
}

async function gatherFacts(ctx: SourceContext, container: string): Promise<SourceFacts> {
  const inspect = await ctx.docker.inspectContainer(container);
  if (!inspect) throw new MigrationError('precondition', `no such container: ${container} on ${ctx.nodeName}`);
  checkSupported(inspect);
  const name = inspect.Name.replace(/^\//, '');
  const dumpPid = dumpRootPid(inspect.State.Pid, isRestoredContainer(inspect));
  const stdio = stdioOf(dumpPid);
  if (stdio.stdin !== '/dev/null') {
    throw new MigrationError('precondition', `container ${name} has an open stdin (-i), which cannot be migrated`);
  }
  // Read once: parsed for the dump options, the external lines verbatim for the destination.
  const mountLines = fs.readFileSync(`/proc/${dumpPid}/mountinfo`, 'utf8').split('\n').filter((l) => l.trim());
  const mounts = mountLines.map((l) => parseMountInfo(l)[0]);
  const spec = specFromInspect(inspect, inspect.Config.Image);
  const dockerMountTargets = spec.mounts.map((m) => m.destination);
  const external = new Set(externalMountPoints(mounts, dockerMountTargets));
  const externalMountLines = mountLines.filter((_l, i) => external.has(mounts[i].mountPoint)).join('\n');
  const dirs = processCgroupDirs(inspect.State.Pid);
  const freezerDir = dirs.get('freezer') ?? dirs.get('');
  if (!freezerDir || !canFreeze(freezerDir)) throw new MigrationError('precondition', `cannot find the freezer cgroup of ${name}`);
  const upperDir = overlayDirs(inspect).upper;
  return {
    inspect,
    name,
    dumpPid,
    mounts,
    upperDir,
    freezerDir,
    prepare: { container: spec, tree: { externalMounts: externalMountLines, stdio: pipesToReattach(stdio) } },
    dockerMountTargets,
    estimatedBytes: memoryUsage(dirs) + 64 * 1024 * 1024,
    fileBytes: treeBytes(upperDir) +
      spec.mounts.filter((m) => m.type === 'volume').reduce((n, m) => n + treeBytes(m.source), 0),
  };
}

/**
 * Writes the whole checkpoint into one tar stream: images, rootfs diff, volume data. With
 * `dumping` (CRIU still running), the pages go as CRIU writes them, the other images after.
 * `rootfsXattrs`: read from the frozen container while it was being dumped.
 */
async function packCheckpoint(
  pack: tar.Pack,
  imagesDir: string,
  f: SourceFacts,
  rootfsXattrs: Promise<Map<string, XattrSet>>,
  dumping: Promise<void> | undefined,
  pool: BufferPool,
): Promise<{ images: number; rootfs: number; volumes: number }> {
  const images = await packImages(pack, imagesDir, PREFIX.images, dumping ?? Promise.resolve(), pool);
  trace('src: images sent');
  const rootfs = await packTree(pack, f.upperDir, PREFIX.rootfs, { overlay: true, exclude: INTERNAL_PATHS, xattrs: rootfsXattrs });
  trace('src: rootfs packed');
  let volumes = 0;
  for (const m of f.prepare.container.mounts) {
    if (m.type !== 'volume') continue;
    volumes += (await packTree(pack, m.source, `${PREFIX.volumes}${m.name}/`, { overlay: false })).fileBytes;
  }
  await packLog(pack, f.inspect);
  pack.finalize();
  return { images, rootfs: rootfs.fileBytes, volumes };
}

/** The container's json-file log (final: the container is frozen), so `docker logs` keeps its history. */
async function packLog(pack: tar.Pack, c: ContainerInspect): Promise<void> {
  if (c.HostConfig.LogConfig?.Type !== 'json-file' || !c.LogPath || !fs.existsSync(c.LogPath)) return;
  const size = fs.statSync(c.LogPath).size;
  if (size === 0) return;
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name: LOG_ENTRY, type: 'file', size, mode: 0o600 }, (err) => (err ? reject(err) : resolve()));
    entry.on('error', () => undefined); // reported through the entry callback
    const input = fs.createReadStream(c.LogPath, { start: 0, end: size - 1 });
    input.on('error', reject);
    input.pipe(entry);
  });
}

/** tar -> zstd -> chunks -> the destination, with backpressure all the way; then End. */
async function transfer(
  ch: SourceChannel,
  f: SourceFacts,
  imagesDir: string,
  rootfsXattrs: Promise<Map<string, XattrSet>>,
  dumping: Promise<void> | undefined,
  opts: PushOptions,
  stallMs: number,
): Promise<{ raw: number; wire: number; sizes: { images: number; rootfs: number; volumes: number } }> {
  // For progress: the files were measured before the freeze; the images are written (serial)
  // or about the container's memory.
  const rawTotal = (dumping ? f.estimatedBytes : treeBytes(imagesDir)) + f.fileBytes;
  const pack = tar.pack();
  const encoder = new ChunkEncoder(opts.compressLevel);
  const sealer = new ChunkSealer();
  let raw = 0;
  let lastProgress = 0;
  const send = async (chunks: Buffer[]): Promise<void> => {
    for (const data of chunks) {
      await within(stallMs, 'the destination to take more data', ch.send({ body: 'chunk', chunk: sealer.seal(data) }));
    }
    if (performance.now() - lastProgress > 250) {
      lastProgress = performance.now();
      opts.emit({ body: 'progress', progress: { bytesRaw: raw, bytesWire: sealer.bytes, bytesRawTotal: rawTotal } });
    }
  };
  const pool = new BufferPool(MAX_PIECE); // for CRIU's images, given back once encoded
  const packed = packCheckpoint(pack, imagesDir, f, rootfsXattrs, dumping, pool);
  packed.catch((err: Error) => pack.destroy(err)); // ends the loop below with the reason
  try {
    for await (const data of pack as AsyncIterable<Buffer>) {
      raw += data.length;
      const full = encoder.push(data); // copies data
      pool.giveBack(data);
      await send(full);
    }
    await send(encoder.end());
    trace('src: tar sent');
    const sizes = await packed;
    await ch.send({ body: 'end', end: sealer.end(raw) });
    return { raw, wire: sealer.bytes, sizes };
  } catch (err) {
    packed.catch(() => undefined); // a consequence of this error
    pack.destroy();
    throw err;
  }
}

/** Runs a push; resolves with the summary, or throws after rolling back. */
export async function runPush(ctx: SourceContext, opts: PushOptions): Promise<Summary> {
  const t0 = performance.now();
  const phaseMs: Record<string, number> = {};
  const started = new Map<string, number>(); // dump and transfer overlap
  const phase = (name: string, state: 'start' | 'done', detail = ''): void => {
    const now = performance.now();
    if (state === 'start') started.set(name, now);
    else phaseMs[name] = now - (started.get(name) ?? now);
    opts.emit({ body: 'phase', phase: { name, state, elapsedMs: now - t0, detail } });
  };

  phase('preflight', 'start');
  if (!isValidLevel(opts.compressLevel)) throw new MigrationError('precondition', `unsupported compression level ${opts.compressLevel}`);
  const f = await gatherFacts(ctx, opts.container);
  if (ctx.inFlight.has(f.inspect.Id)) throw new MigrationError('precondition', `container ${f.name} is already being migrated`);
  // CRIU writes the checkpoint here before (or while) it is sent.
  requireFreeDisk(migrationsDir(ctx.stateDir), f.estimatedBytes, `on ${ctx.nodeName} for the checkpoint of ${f.name}`);
  const undecided = readRecords(ctx.stateDir).find((r) => r.record?.role === 'source' && r.record.containerId === f.inspect.Id);
  if (undecided?.record?.role === 'source') {
    throw new MigrationError('precondition', `container ${f.name} stays frozen: its migration to ${undecided.record.destination} has an unknown outcome; restart this agent once ${undecided.record.destination} answers`);
  }
  ctx.inFlight.add(f.inspect.Id);
  try {
    return await pushClaimed(ctx, opts, f, t0, phase, phaseMs);
  } finally {
    ctx.inFlight.delete(f.inspect.Id);
  }
}

async function pushClaimed(
  ctx: SourceContext,
  opts: PushOptions,
  f: SourceFacts,
  t0: number,
  phase: (name: string, state: 'start' | 'done', detail?: string) => void,
  phaseMs: Record<string, number>,
): Promise<Summary> {
  const ch = await opts.connect();
  const migrationId = crypto.randomUUID();
  let frozen = false;
  let dumping: Promise<void> | undefined; // criu dump, once started
  let committed = false;
  let undecided = false; // Commit sent, the destination's answer unknown: the tree stays frozen
  const workDir = path.join(migrationsDir(ctx.stateDir), migrationId);
  const imagesDir = path.join(workDir, 'images');
  try {
    await ch.send({
      body: 'prepare',
      prepare: {
        protocolVersion: PROTOCOL_VERSION,
        migrationId,
        sourceNode: ctx.nodeName,
        specJson: JSON.stringify(f.prepare),
        estimatedBytes: f.estimatedBytes,
        compressLevel: opts.compressLevel,
      },
    });
    const prepared = (await expectReply(ch, 'prepared', ctx.timeouts.prepareMs)).prepared;
    phase('preflight', 'done', `${prepared.nodeName} ready, container ${prepared.containerId.slice(0, 12)} waiting`);

    phase('dump', 'start');
    fs.mkdirSync(imagesDir, { recursive: true });
    const record = {
      role: 'source' as const,
      migrationId,
      destination: opts.destination,
      containerId: f.inspect.Id,
      name: f.name,
      cgroupDir: f.freezerDir,
      commitSent: false,
      committed: false,
      keepSource: opts.keepSource,
      volumes: f.prepare.container.mounts.filter((m) => m.type === 'volume').map((m) => m.name),
    };
    writeRecord(workDir, record); // before the freeze: a restarted agent resumes the tree
    const freezeAt = performance.now();
    trace('src: freeze');
    frozen = true;
    await freezeCgroup(f.freezerDir);
    // The rootfs is still from here on: its xattrs are read (a getfattr run) while CRIU dumps.
    const rootfsXattrs = readTreeXattrs(f.upperDir);
    rootfsXattrs.catch(() => undefined); // awaited when packed; unused if the dump fails
    dumping = dump(ctx, f, imagesDir).then(() => {
      phase('dump', 'done');
      trace('src: dump done');
    });
    if (opts.serial) await dumping;

    phase('transfer', 'start');
    const sent = await transfer(ch, f, imagesDir, rootfsXattrs, opts.serial ? undefined : dumping, opts, ctx.timeouts.stallMs);
    phase('transfer', 'done', `${sent.raw} bytes raw, ${sent.wire} on the wire`);

    phase('restore', 'start');
    const restored = (await expectReply(ch, 'restored', ctx.timeouts.restoreMs)).restored;
    trace('src: restored');
    const downtimeMs = performance.now() - freezeAt;
    // The destination's share: first chunk to everything applied, and criu restore itself.
    phaseMs['destination-receive'] = restored.receiveMs;
    phaseMs['criu-restore'] = restored.restoreMs;
    phase('restore', 'done', `criu restore ${restored.restoreMs.toFixed(0)} ms`);

    // From here a crash is ambiguous: a restarted agent asks the destination (MigrationStatus).
    writeRecord(workDir, { ...record, commitSent: true });
    const outcome = await commitOutcome({
      commit: async () => {
        await ch.send({ body: 'commit', commit: {} });
        await expectReply(ch, 'committed', ctx.timeouts.commitMs);
      },
      cancel: () => ch.cancel(),
      ask: () => ctx.askCommitted(opts.destination, migrationId),
    });
    if (outcome.state === 'not-committed') throw new MigrationError('failed', `${outcome.why} (${prepared.nodeName} did not commit)`);
    if (outcome.state === 'unknown') {
      undecided = true;
      throw new MigrationError('failed', `${outcome.why}; cannot tell whether ${prepared.nodeName} committed, so ${f.name} stays frozen on ${ctx.nodeName} ` +
        `(never running on both): restart the agent on ${ctx.nodeName} once ${prepared.nodeName} answers, and it resumes or removes it`);
    }
    if (outcome.confirmedLate) ctx.log(`push of ${f.name}: the answer to Commit was lost; ${prepared.nodeName} confirmed it`);
    committed = true;
    writeRecord(workDir, { ...record, commitSent: true, committed: true });
    ch.close();

    phase('cleanup', 'start');
    const sourceCleanupError = await cleanUpSource(ctx, record, workDir);
    phase('cleanup', 'done', sourceCleanupError ? `failed: ${sourceCleanupError}` : opts.keepSource ? 'source kept, stopped' : 'source removed');

    return {
      container: f.name,
      sourceNode: ctx.nodeName,
      destinationNode: prepared.nodeName,
      destinationContainerId: prepared.containerId,
      downtimeMs,
      totalMs: performance.now() - t0,
      bytesRaw: sent.raw,
      bytesWire: sent.wire,
      criuImageBytes: sent.sizes.images,
      rootfsBytes: sent.sizes.rootfs,
      volumeBytes: sent.sizes.volumes,
      phaseMs,
      sourceKept: opts.keepSource,
      sourceCleanupError,
      compressLevel: opts.compressLevel,
      pipelined: !opts.serial,
    };
  } catch (err) {
    if (!committed && !undecided) {
      ch.cancel();
      // CRIU puts the freezer back as it found it (FROZEN) when it exits: thaw after that.
      await dumping?.catch(() => undefined);
      if (frozen) {
        thawCgroup(f.freezerDir);
        ctx.log(`push of ${f.name} failed after the freeze; resumed it here`);
      }
      const log = err instanceof CriuError ? keepCriuLog(ctx.stateDir, migrationId, err.logFile) : '';
      discardWorkDir(ctx.stateDir, workDir);
      const why = err instanceof Error ? err.message : String(err);
      if (frozen) throw new MigrationError('failed', `${why}${log}; rolled back: ${f.name} is running on ${ctx.nodeName}`);
    }
    throw err;
  }
}

/**
 * After the commit the container runs on the destination whatever happens here, so a failure to
 * remove the source copy is reported, not thrown: the push did move it. Its record stays, and
 * the agent finishes the removal at its next start (recoverMigrations).
 */
async function cleanUpSource(ctx: SourceContext, record: SourceCopy & { name: string }, workDir: string): Promise<string> {
  try {
    if (injectedFault('fail-source-cleanup')) throw new Error('injected fault: fail-source-cleanup');
    await removeSourceCopy(ctx.docker, record);
    discardWorkDir(ctx.stateDir, workDir);
    return '';
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    ctx.log(`push of ${record.name}: committed, but removing the source copy failed: ${why}; finished at this agent's next start`);
    return why;
  }
}

/** criu dump of the frozen tree into a local dir; the tree stays frozen (rollback = thaw). */
function dump(ctx: SourceContext, f: SourceFacts, imagesDir: string): Promise<void> {
  return runCriu({
    prefix: [],
    criuPath: ctx.criuPath,
    args: dumpArgs({
      pid: f.dumpPid,
      imagesDir,
      netnsInode: netnsInode(f.dumpPid),
      mounts: f.mounts,
      dockerMountTargets: f.dockerMountTargets,
      freezerDir: f.freezerDir,
    }),
    imagesDir,
    logName: 'dump.log',
  });
}
