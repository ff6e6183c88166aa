// The source's side of one migration, top to bottom:
//   pre-flight (local facts, then the destination's Prepare)
//   -> pre-copy: the container's memory, read while it runs -> zstd -> chunks over gRPC
//   -> freeze + criu dump to a local dir
//   -> one tar stream -> zstd -> chunks over gRPC: the pages as CRIU writes them (unless serial;
//      those the pre-copy sent unchanged as references to it), then the other CRIU images,
//      rootfs diff, volumes, log
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
import type { LazyPagesMode, MigrateReply, MigrateRequest, PushEvent, Summary } from '../rpc/messages';
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
import { scratchRoot } from './scratch-dir';
import { packImages, packed, MAX_PIECE, type Reuse } from './dump-follower';
import { BufferPool } from '../stream/buffer-pool';
import { cgroupPids, dumpRootPid, netnsInode, pipesToReattach, processCgroupDirs, stdioOf } from './process-facts';
import { memoryPieces, PAGE_SIZE } from './memory-reader';
import { PageIndex } from './page-index';
import { lazyRestoreFor } from './lazy-restore-choice';

/**
 * The most memory a pre-copy sends: its index costs the source ~30 bytes a page (4 GiB: ~32
 * MiB); pages past it are sent after the freeze.
 */
export const MAX_PRECOPY_BYTES = 4 * 1024 ** 3;

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
  /** tmpfs dir for checkpoints that fit in memory ('' = always the state dir). */
  memScratchDir: string;
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
  /** Send the memory while the container runs, then after the freeze only what changed. */
  precopy: boolean;
  /** Resume on the destination before the memory is in (post-copy from its own images). */
  lazyPages: LazyPagesMode;
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
  /** The container's memory cgroup usage. */
  memoryBytes: number;
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
  const memoryBytes = memoryUsage(dirs);
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
    estimatedBytes: memoryBytes + 64 * 1024 * 1024,
    memoryBytes,
    fileBytes: treeBytes(upperDir) +
      spec.mounts.filter((m) => m.type === 'volume').reduce((n, m) => n + treeBytes(m.source), 0),
  };
}

/**
 * Writes the whole checkpoint into one tar stream: rootfs diff, volume data, images, log. The
 * files go first: the container is frozen, so they are final, and they leave while CRIU starts
 * up (it writes its first pages tens of ms after the freeze) instead of after it exits. With
 * `dumping` (CRIU still running), the pages go as CRIU writes them, the other images after.
 * `rootfsXattrs`: read from the frozen container while it is being dumped.
 */
async function packCheckpoint(
  pack: tar.Pack,
  imagesDir: string,
  f: SourceFacts,
  rootfsXattrs: Promise<Map<string, XattrSet>>,
  dumping: Promise<void> | undefined,
  pool: BufferPool,
  reuse: Reuse | undefined,
): Promise<{ images: number; rootfs: number; volumes: number }> {
  const rootfs = await packTree(pack, f.upperDir, PREFIX.rootfs, { overlay: true, exclude: INTERNAL_PATHS, xattrs: rootfsXattrs });
  let volumes = 0;
  for (const m of f.prepare.container.mounts) {
    if (m.type !== 'volume') continue;
    volumes += (await packTree(pack, m.source, `${PREFIX.volumes}${m.name}/`, { overlay: false })).fileBytes;
  }
  trace('src: files packed');
  const images = await packImages(pack, imagesDir, PREFIX.images, dumping ?? Promise.resolve(), pool, reuse);
  trace('src: images sent');
  await packLog(pack, f.inspect);
  pack.finalize();
  return { images, rootfs: rootfs.fileBytes, volumes };
}

/** The container's json-file log (final: the container is frozen), so `docker logs` keeps its history. */
async function packLog(pack: tar.Pack, c: ContainerInspect): Promise<void> {
  if (c.HostConfig.LogConfig?.Type !== 'json-file' || !c.LogPath || !fs.existsSync(c.LogPath)) return;
  const size = fs.statSync(c.LogPath).size;
  if (size === 0) return;
  const header = { name: LOG_ENTRY, type: 'file' as const, size, mode: 0o600 };
  if (size <= MAX_PIECE) {
    // Most logs: one read, no trips through the thread pool while the downtime waits.
    const body = Buffer.alloc(size);
    const fd = fs.openSync(c.LogPath, 'r');
    try {
      if (fs.readSync(fd, body, 0, size, 0) !== size) throw new Error(`${c.LogPath} shrank while it was read`);
    } finally {
      fs.closeSync(fd);
    }
    return packed(pack, header, body);
  }
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    entry.on('error', () => undefined); // reported through the entry callback
    const input = fs.createReadStream(c.LogPath, { start: 0, end: size - 1 });
    input.on('error', reject);
    input.pipe(entry);
  });
}

/**
 * One of Migrate's sealed chunk streams: raw bytes in, zstd frames out as chunks to the
 * destination (each handed to the transport within `stallMs`: its backpressure bounds memory),
 * progress on the way, End at the end.
 */
class SealedSender {
  private readonly encoder: ChunkEncoder;
  private readonly sealer = new ChunkSealer();
  raw = 0;
  /** Of the pre-copy: the segment (process) whose pages the chunks hold. */
  segment = 0;
  private lastProgress = 0;
  /** When the encoder's oldest pending byte came (0: none pending). */
  private pendingSince = 0;

  constructor(
    private readonly ch: SourceChannel,
    private readonly stream: 'precopy' | 'checkpoint',
    private readonly opts: PushOptions,
    private readonly stallMs: number,
    private readonly rawTotal: number,
  ) {
    this.encoder = new ChunkEncoder(opts.compressLevel);
  }

  get wire(): number {
    return this.sealer.bytes;
  }

  /** Takes `data` (copied: the caller may reuse it once this returns its promise). */
  async push(data: Buffer): Promise<void> {
    this.raw += data.length;
    const full = this.encoder.push(data);
    const now = performance.now();
    if (full.length > 0 || !this.pendingSince) this.pendingSince = this.encoder.pending > 0 ? now : 0;
    await this.send(full);
    if (this.pendingSince && now - this.pendingSince >= MAX_CHUNK_DELAY_MS) await this.flush();
  }

  /**
   * Sends what the encoder holds now, as a shorter chunk, and lets the transport write it: gRPC
   * writes from the event loop, which a run of already resolved promises (small entries that
   * the transport takes at once) would not reach until the dump is over.
   */
  async flush(): Promise<void> {
    this.pendingSince = 0;
    await this.send(this.encoder.end());
    await new Promise((resolve) => setImmediate(resolve));
  }

  async end(): Promise<void> {
    await this.flush();
    const end = this.sealer.end(this.raw);
    await this.ch.send(this.stream === 'precopy' ? { body: 'precopyEnd', precopyEnd: end } : { body: 'end', end });
  }

  private async send(chunks: Buffer[]): Promise<void> {
    for (const data of chunks) {
      const chunk = this.sealer.seal(data, this.segment);
      const req: MigrateRequest = this.stream === 'precopy' ? { body: 'precopy', precopy: chunk } : { body: 'chunk', chunk };
      await within(this.stallMs, 'the destination to take more data', this.ch.send(req));
    }
    if (performance.now() - this.lastProgress > 250) {
      this.lastProgress = performance.now();
      const progress = { bytesRaw: this.raw, bytesWire: this.wire, bytesRawTotal: this.rawTotal, phase: this.stream === 'precopy' ? 'precopy' : 'transfer' };
      this.opts.emit({ body: 'progress', progress });
    }
  }
}

/**
 * Before the freeze: the anonymous memory of the container's processes, read while they run, to
 * the destination's pre-copy store, one segment per process (each chunk holds pages of one); the
 * index says which pages it holds.
 */
async function precopy(ch: SourceChannel, f: SourceFacts, opts: PushOptions, stallMs: number, maxBytes: number): Promise<{ index: PageIndex; raw: number; wire: number }> {
  const index = new PageIndex();
  const out = new SealedSender(ch, 'precopy', opts, stallMs, maxBytes);
  const pool = new BufferPool(MAX_PIECE);
  let nextProcess = false;
  for (const piece of memoryPieces(cgroupPids(f.freezerDir), pool, Math.floor(maxBytes / PAGE_SIZE), () => (nextProcess = true))) {
    if (nextProcess) {
      await out.flush(); // the previous process's last chunk
      out.segment = index.startSegment();
      nextProcess = false;
    }
    index.add(piece);
    await out.push(piece);
    pool.giveBack(piece);
  }
  await out.end();
  // Frozen only once the destination holds it all (its last writes would slow criu dump).
  const stored = (await expectReply(ch, 'precopyStored', stallMs)).precopyStored;
  if (stored.pages !== index.pages) throw new MigrationError('protocol', `the destination stored ${stored.pages} pre-copied pages, ${index.pages} were sent`);
  return { index, raw: out.raw, wire: out.wire };
}

/**
 * A chunk holds 1 MiB of raw bytes, but pages reused from the pre-copy are a few bytes of runs
 * each, which the destination must have to copy those pages while CRIU still dumps: a partly
 * filled chunk goes once its oldest byte has waited MAX_CHUNK_DELAY_MS, or once the tar stream
 * has paused for QUIET_MS (CRIU has not written more yet).
 */
const MAX_CHUNK_DELAY_MS = 5;
const QUIET_MS = 2;

/** The items of `src`, with an `undefined` between two of them that came more than `ms` apart. */
export async function* withQuietMarks<T>(src: AsyncIterable<T>, ms: number): AsyncGenerator<T | undefined> {
  const it = src[Symbol.asyncIterator]();
  let marked = true; // nothing since the last mark (or the start)
  try {
    for (;;) {
      const next = it.next();
      let r: IteratorResult<T> | 'quiet';
      if (marked) r = await next;
      else {
        let timer: NodeJS.Timeout | undefined;
        const quiet = new Promise<'quiet'>((resolve) => (timer = setTimeout(() => resolve('quiet'), ms)));
        r = await Promise.race([next, quiet]);
        clearTimeout(timer);
        if (r === 'quiet') {
          yield undefined;
          r = await next;
        }
      }
      if (r.done) return;
      marked = false;
      yield r.value;
    }
  } finally {
    // Not awaited: after a mark the source's next() is still pending, and its return() would
    // wait for it (the caller destroys the source anyway).
    void Promise.resolve(it.return?.()).catch(() => undefined);
  }
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
  reuse: Reuse | undefined,
): Promise<{ raw: number; wire: number; sizes: { images: number; rootfs: number; volumes: number } }> {
  // For progress: the files were measured before the freeze; the images are written (serial)
  // or about the container's memory.
  const rawTotal = (dumping ? f.estimatedBytes : treeBytes(imagesDir)) + f.fileBytes;
  const pack = tar.pack();
  const out = new SealedSender(ch, 'checkpoint', opts, stallMs, rawTotal);
  const pool = new BufferPool(MAX_PIECE); // for CRIU's images, given back once encoded
  const packed = packCheckpoint(pack, imagesDir, f, rootfsXattrs, dumping, pool, reuse);
  packed.catch((err: Error) => pack.destroy(err)); // ends the loop below with the reason
  try {
    for await (const data of withQuietMarks(pack as AsyncIterable<Buffer>, QUIET_MS)) {
      if (!data) {
        await out.flush();
        continue;
      }
      const sent = out.push(data); // copies data
      pool.giveBack(data);
      await sent;
    }
    const sizes = await packed;
    await out.end();
    trace('src: tar sent');
    return { raw: out.raw, wire: out.wire, sizes };
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
  // A --serial push measures the CRIU floor: nothing before the freeze either.
  const precopyBytes = opts.precopy && !opts.serial ? Math.min(f.estimatedBytes, MAX_PRECOPY_BYTES) : 0;
  const scratch = scratchRoot(ctx.memScratchDir, ctx.stateDir, f.estimatedBytes, `on ${ctx.nodeName} for the checkpoint of ${f.name}`);
  const undecided = readRecords(ctx.stateDir).find((r) => r.record?.role === 'source' && r.record.containerId === f.inspect.Id);
  if (undecided?.record?.role === 'source') {
    throw new MigrationError('precondition', `container ${f.name} stays frozen: its migration to ${undecided.record.destination} has an unknown outcome; restart this agent once ${undecided.record.destination} answers`);
  }
  ctx.inFlight.add(f.inspect.Id);
  try {
    return await pushClaimed(ctx, opts, f, { under: scratch, precopyBytes }, t0, phase, phaseMs);
  } finally {
    ctx.inFlight.delete(f.inspect.Id);
  }
}

async function pushClaimed(
  ctx: SourceContext,
  opts: PushOptions,
  f: SourceFacts,
  room: { under: string; precopyBytes: number },
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
  const scratch = path.join(room.under, migrationId); // the work dir itself, or in memory
  const imagesDir = path.join(scratch, 'images');
  const precopyBytes = room.precopyBytes;
  let reuse: Reuse | undefined;
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
        precopyBytes,
        lazyRestore: lazyRestoreFor(opts.lazyPages, f.memoryBytes, opts.serial),
      },
    });
    const prepared = (await expectReply(ch, 'prepared', ctx.timeouts.prepareMs)).prepared;
    phase('preflight', 'done', `${prepared.nodeName} ready, container ${prepared.containerId.slice(0, 12)} waiting`);

    const pre = { raw: 0, wire: 0 };
    if (precopyBytes > 0) {
      phase('precopy', 'start');
      const sent = await precopy(ch, f, opts, ctx.timeouts.stallMs, precopyBytes);
      reuse = { index: sent.index, prefix: PREFIX.reuse };
      Object.assign(pre, sent);
      phase('precopy', 'done', `${sent.index.pages} pages (${sent.raw} bytes) sent while ${f.name} runs, ${sent.wire} on the wire`);
    }

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
    dumping = dump(ctx, f, imagesDir).then(() => {
      phase('dump', 'done');
      trace('src: dump done');
    });
    // The rootfs is still from here on: its xattrs are read (a getfattr run, started after
    // criu so as not to delay it) while CRIU dumps.
    const rootfsXattrs = readTreeXattrs(f.upperDir);
    rootfsXattrs.catch(() => undefined); // awaited when packed; unused if the dump fails
    if (opts.serial) await dumping;

    phase('transfer', 'start');
    const sent = await transfer(ch, f, imagesDir, rootfsXattrs, opts.serial ? undefined : dumping, opts, ctx.timeouts.stallMs, reuse);
    const reused = reuse ? `; ${reuse.index.reused} pages reused from the pre-copy, ${reuse.index.sent} sent` : '';
    phase('transfer', 'done', `${sent.raw} bytes raw, ${sent.wire} on the wire${reused}`);

    phase('restore', 'start');
    let reply = await within(ctx.timeouts.restoreMs, "the destination's restored reply", ch.reply());
    // Eager: the container runs there since Restored; lazy: since Resumed (Restored follows).
    const downtimeMs = performance.now() - freezeAt;
    const resumed = reply.body === 'resumed';
    if (reply.body === 'resumed') {
      // Lazy restore: the container runs there; the source keeps its copy until the memory is in.
      trace('src: resumed');
      phase('restore', 'done', `criu restore ${reply.resumed.restoreMs.toFixed(0)} ms; ${f.name} runs on ${prepared.nodeName}`);
      phase('lazy-pages', 'start', 'its memory is copied in while it runs');
      reply = await within(ctx.timeouts.restoreMs, "the destination's restored reply", ch.reply());
    }
    if (reply.body !== 'restored' || reply.restored.lazyPages !== resumed) {
      throw new MigrationError('protocol', `destination sent ${reply.body}${reply.body === 'restored' ? ` (lazy: ${reply.restored.lazyPages})` : ''}, expected restored`);
    }
    const restored = reply.restored;
    trace('src: restored');
    // The destination's share: first chunk to everything applied, and criu restore itself.
    phaseMs['destination-receive'] = restored.receiveMs;
    phaseMs['criu-restore'] = restored.restoreMs;
    if (restored.lazyPages) {
      phase('lazy-pages', 'done', `memory copied in over ${restored.pagesInMs.toFixed(0)} ms`);
    } else {
      phase('restore', 'done', `criu restore ${restored.restoreMs.toFixed(0)} ms`);
    }

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
    const sourceCleanupError = await cleanUpSource(ctx, record, workDir, scratch);
    phase('cleanup', 'done', sourceCleanupError ? `failed: ${sourceCleanupError}` : opts.keepSource ? 'source kept, stopped' : 'source removed');

    return {
      container: f.name,
      sourceNode: ctx.nodeName,
      destinationNode: prepared.nodeName,
      destinationContainerId: prepared.containerId,
      downtimeMs,
      totalMs: performance.now() - t0,
      bytesRaw: pre.raw + sent.raw,
      bytesWire: pre.wire + sent.wire,
      precopyBytesRaw: pre.raw,
      precopyBytesWire: pre.wire,
      pagesReused: reuse?.index.reused ?? 0,
      pagesSent: reuse?.index.sent ?? 0,
      criuImageBytes: sent.sizes.images,
      rootfsBytes: sent.sizes.rootfs,
      volumeBytes: sent.sizes.volumes,
      phaseMs,
      sourceKept: opts.keepSource,
      sourceCleanupError,
      compressLevel: opts.compressLevel,
      pipelined: !opts.serial,
      lazyPages: restored.lazyPages,
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
      discardWorkDir(ctx.stateDir, workDir, scratch);
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
async function cleanUpSource(ctx: SourceContext, record: SourceCopy & { name: string }, workDir: string, scratch: string): Promise<string> {
  try {
    if (injectedFault('fail-source-cleanup')) throw new Error('injected fault: fail-source-cleanup');
    await removeSourceCopy(ctx.docker, record);
    discardWorkDir(ctx.stateDir, workDir, scratch);
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
