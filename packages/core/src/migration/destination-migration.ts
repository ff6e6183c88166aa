// The destination's side of one migration, driven by the source over one bidirectional stream:
//   Prepare  -> checks, then create + start the target container (helper waiting)  -> Prepared
//   Precopy* -> (unless none is announced) verify, decompress, into the pre-copy store: the
//               container's memory, read while it still runs on the source
//   Chunk*   -> verify, decompress, untar: CRIU images (the pages in pieces, while the
//               source still dumps; a pages image that is a segment of the store takes its
//               file and gets the changed pages written in place, others copy runs of the
//               store), rootfs diff, volume data
//   End      -> verify the whole stream, criu restore into the target              -> Restored
//   Commit   -> keep it                                                            -> Committed
// Anything else (an error, the stream ending early) removes everything this migration made.
import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar-stream';
import { overlayDirs, type ContainerInspect, type DockerClient } from '../docker/docker-client';
import { DiffApplier, FlatFileApplier, stripPrefix, type EntryBody, type TreeApplier } from '../fsdiff';
import { resumingOnError } from '../fsdiff/tar-format';
import { readPax } from '../fsdiff/diff-applier';
import { PAX } from './dump-follower';
import type { End, MigrateReply, MigrateRequest, Prepare } from '../rpc/messages';
import { Readable } from 'node:stream';
import { ChunkVerifier, decompressed, FrameDecompressor } from '../stream/chunk-stream';
import { isValidLevel } from '../stream/compress-level';
import { PROTOCOL_VERSION } from '../version';
import { injectedFault } from '../util/fault';
import { trace } from '../util/trace';
import { createOptionsFor, RESTORE_MARKER, SPEC_VERSION, type ContainerSpec } from './container-spec';
import { prepareRestore, type DumpedTreeFacts, type PendingRestore, type RestoredTree } from './restore-into-container';
import { lazyPagesSupported } from '../criu/lazy-pages-support';
import { verifiedChunks } from './verified-chunks';
import { InProgress } from './in-progress';
import { scratchRoot } from './scratch-dir';
import { MigrationError } from './migration-error';
import { discardWorkDir, keepCriuLog, markCommitted, migrationsDir, writeRecord } from './migration-record';
import { CriuError } from '../criu/criu-runner';
import { PAGE_SIZE } from './memory-reader';
import { decodeRuns } from './page-index';
import { PrecopyStore } from './precopy-store';

export interface DestinationContext {
  docker: DockerClient;
  nodeName: string;
  stateDir: string;
  /** tmpfs dir for checkpoints that fit in memory ('' = always the state dir). */
  memScratchDir: string;
  criuPath: string;
  helperPath: string;
  criuCheck: () => Promise<{ ok: boolean; message: string }>;
  log: (msg: string) => void;
}

/** What the source sends in Prepare.specJson. */
export interface PrepareSpec {
  container: ContainerSpec;
  tree: DumpedTreeFacts;
}

/** The transport: replies out, requests in (the gRPC duplex call, or a fake in tests). */
export interface DestinationChannel {
  send(reply: MigrateReply): void;
  requests: AsyncIterator<MigrateRequest>;
}

/** Stream layout: every tar entry lives under one of these prefixes. */
export const PREFIX = { images: 'criu/', reuse: 'reuse/', rootfs: 'rootfs/', volumes: 'volumes/' } as const;
/** A reuse entry names at most this many bytes of runs (the source sends one per piece read). */
const MAX_REUSE_ENTRY = 1024 * 1024;
/** The source container's json-file log, appended to the new container's log before the restore. */
export const LOG_ENTRY = 'logs/container-json.log';

async function next(ch: DestinationChannel, what: string): Promise<MigrateRequest> {
  const r = await ch.requests.next();
  if (r.done) throw new MigrationError('aborted', `the source closed the stream before ${what}`);
  return r.value;
}

class DestinationMigration {
  private containerId = '';
  private readonly createdVolumes: string[] = [];
  private workDir = '';
  /** Where the checkpoint lands: CRIU's images and the pre-copy store (the work dir, or in memory). */
  private scratch = '';
  private scratchUnder = '';
  /** The started target, inspected once before the freeze (nothing read here changes after). */
  private target: ContainerInspect | undefined;
  private store: PrecopyStore | undefined;
  /** criu restore, started as far as it can be before the images are in. */
  private pendingRestore: PendingRestore | undefined;
  /** Resume before the memory is in (see lazyPagesArgs); decided in check(). */
  private lazyPages = false;

  constructor(
    private readonly ctx: DestinationContext,
    private readonly prepare: Prepare,
    private readonly spec: PrepareSpec,
  ) {}

  /** Refuses, before the source freezes anything, what cannot work here. */
  async check(): Promise<void> {
    const { docker } = this.ctx;
    const c = this.spec.container;
    const here = `on ${this.ctx.nodeName}`;
    const criu = await this.ctx.criuCheck();
    if (!criu.ok) throw new MigrationError('precondition', `criu check fails ${here}: ${criu.message}`);
    const image = await docker.inspectImage(c.imageId);
    if (!image) throw new MigrationError('precondition', `base image ${c.imageRef} (${c.imageId.slice(0, 19)}) is missing ${here}`);
    if (await docker.inspectContainer(c.name)) throw new MigrationError('precondition', `a container named ${c.name} already exists ${here}`);
    for (const m of c.mounts) {
      if (m.type === 'volume' && (await docker.volumeExists(m.name))) {
        throw new MigrationError('precondition', `volume ${m.name} already exists ${here}`);
      }
      if (m.type === 'bind' && !fs.existsSync(m.source)) {
        throw new MigrationError('precondition', `bind mount source ${m.source} does not exist ${here}`);
      }
    }
    for (const n of c.networks) {
      if (!(await docker.networkExists(n))) throw new MigrationError('precondition', `network ${n} does not exist ${here}`);
    }
    this.lazyPages = await this.lazyRestoreHere(here);
    // The pre-copy store and CRIU's images side by side.
    this.scratchUnder = scratchRoot(this.ctx.memScratchDir, this.ctx.stateDir, this.prepare.estimatedBytes + this.prepare.precopyBytes, here);
  }

  private async lazyRestoreHere(here: string): Promise<boolean> {
    const asked = this.prepare.lazyRestore;
    if (asked === 'LAZY_RESTORE_NO') return false;
    if (await lazyPagesSupported(this.ctx.criuPath)) return true;
    if (asked === 'LAZY_RESTORE_IF_SUPPORTED') return false;
    throw new MigrationError('precondition', `cannot restore lazily ${here}: criu check --feature uffd-noncoop fails (push with --lazy-pages never)`);
  }

  /** Creates and starts the target container; its helper waits for the restore. */
  async createTarget(): Promise<string> {
    const { docker } = this.ctx;
    const c = this.spec.container;
    this.workDir = path.join(migrationsDir(this.ctx.stateDir), this.prepare.migrationId);
    this.scratch = path.join(this.scratchUnder, this.prepare.migrationId);
    fs.mkdirSync(path.join(this.scratch, 'images'), { recursive: true });
    this.saveRecord(false);
    for (const m of c.mounts) {
      if (m.type !== 'volume') continue;
      await docker.createVolume(m.name);
      this.createdVolumes.push(m.name);
      this.saveRecord(false);
    }
    const image = (await docker.inspectImage(c.imageRef))?.Id === c.imageId ? c.imageRef : c.imageId;
    this.containerId = await docker.createContainer(createOptionsFor(c, this.ctx.helperPath, image));
    this.saveRecord(false);
    const created = await docker.inspectContainer(this.containerId);
    if (!created) throw new Error('the new container vanished');
    fs.writeFileSync(path.join(overlayDirs(created).upper, RESTORE_MARKER), '');
    await docker.startContainer(this.containerId);
    this.target = (await docker.inspectContainer(this.containerId)) ?? undefined;
    if (!this.target?.State.Running) throw new Error('the new container stopped right after its start');
    this.pendingRestore = this.startRestore(this.target);
    return this.containerId;
  }

  /**
   * Stores the pre-copy and says so: the source freezes only then, so that a failure here never
   * freezes anything, and so that the store's last writes do not take CPU from criu dump.
   */
  async receivePrecopy(ch: DestinationChannel): Promise<void> {
    if (this.prepare.precopyBytes === 0) return;
    const dir = path.join(this.scratch, 'precopy');
    fs.mkdirSync(dir);
    const store = (this.store = new PrecopyStore(dir, this.prepare.precopyBytes));
    const verifier = new ChunkVerifier();
    const frames = this.prepare.compressLevel !== 0 ? new FrameDecompressor() : undefined;
    for (;;) {
      const msg = await next(ch, 'the end of the pre-copy');
      if (msg.body === 'precopyEnd') {
        verifier.finish(msg.precopyEnd);
        break;
      }
      if (msg.body !== 'precopy') throw new MigrationError('protocol', `unexpected ${msg.body} during the pre-copy`);
      const data = verifier.verify(msg.precopy);
      const pages = frames ? frames.decompress(data) : data;
      if (pages.length > 0) store.append(msg.precopy.segment, pages);
    }
    store.seal();
    trace(`dst: precopy stored (${store.pages} pages)`);
    ch.send({ body: 'precopyStored', precopyStored: { pages: store.pages } });
  }

  /** Receives the stream into the images dir, the container's rootfs and its volumes. */
  async receive(ch: DestinationChannel): Promise<{ end: End; receiveMs: number }> {
    const started = performance.now();
    const target = this.startedTarget();
    const volumeRoots = new Map<string, string>();
    for (const m of target.Mounts ?? []) if (m.Type === 'volume' && m.Name) volumeRoots.set(m.Name, m.Source);

    const appliers = {
      images: new FlatFileApplier(path.join(this.scratch, 'images')),
      rootfs: new DiffApplier(overlayDirs(target).merged, { overlay: true }),
      volumes: new Map<string, DiffApplier>(),
    };
    const extract = tar.extract();
    let entryError: Error | undefined;
    let entryInFlight: Promise<void> = Promise.resolve();
    extract.on('entry', (header, body, done) => {
      entryInFlight = this.route(header, body, appliers, volumeRoots, target.LogPath).then(
        () => done(),
        (err: Error) => {
          entryError ??= err;
          done(err);
        },
      );
    });
    // Chunks in, verified, decompressed as fast as the untar consumes them, into extract().
    const got: { end?: End } = {};
    const tarBytes = Readable.from(decompressed(verifiedChunks(() => next(ch, 'the end of the stream'), got), this.prepare.compressLevel));
    // extract() is a streamx Writable: pipe into it and wait for its own finish.
    await new Promise<void>((resolve, reject) => {
      tarBytes.on('error', reject);
      extract.on('error', reject);
      extract.on('finish', resolve);
      // An entry whose reader stopped early (e.g. ENOSPC) destroys extract without an error:
      // it then only closes, and the reason is the entry's.
      extract.on('close', () => {
        void entryInFlight.then(() => reject(entryError ?? new MigrationError('failed', 'the tar stream closed early')));
      });
      tarBytes.pipe(extract);
    }).catch((err: unknown) => {
      tarBytes.destroy();
      extract.destroy();
      throw err;
    });
    const end = got.end;
    if (!end) throw new MigrationError('protocol', 'the tar stream ended before the End message');
    trace('dst: untar done');
    await appliers.images.finish();
    await appliers.rootfs.finish();
    for (const a of appliers.volumes.values()) await a.finish();
    return { end, receiveMs: performance.now() - started };
  }

  private async route(
    header: tar.Header,
    body: EntryBody,
    appliers: { images: FlatFileApplier; rootfs: TreeApplier; volumes: Map<string, TreeApplier> },
    volumeRoots: Map<string, string>,
    logPath: string,
  ): Promise<void> {
    if (header.name === LOG_ENTRY && header.type === 'file') return appendLog(logPath, body);
    const reused = stripPrefix(header, PREFIX.reuse);
    if (reused) return this.reuse(reused, body, appliers.images);
    const images = stripPrefix(header, PREFIX.images);
    if (images) return this.image(images, body, appliers.images);
    const rootfs = stripPrefix(header, PREFIX.rootfs);
    if (rootfs) return appliers.rootfs.apply(rootfs, body);
    if (header.name.startsWith(PREFIX.volumes)) {
      const name = header.name.slice(PREFIX.volumes.length).split('/')[0];
      const root = volumeRoots.get(name);
      const entry = stripPrefix(header, `${PREFIX.volumes}${name}/`);
      if (!root || !entry) throw new MigrationError('protocol', `tar entry for unknown volume: ${header.name}`);
      let applier = appliers.volumes.get(name);
      if (!applier) appliers.volumes.set(name, (applier = new DiffApplier(root, { overlay: false })));
      return applier.apply(entry, body);
    }
    throw new MigrationError('protocol', `unexpected tar entry ${header.name}`);
  }

  /**
   * A reuse entry: pages of a CRIU pages image that the pre-copy store holds: the whole segment
   * that the image starts as (adopted), or runs of store pages, copied from it.
   */
  private async reuse(header: tar.Header, body: EntryBody, images: FlatFileApplier): Promise<void> {
    const store = this.store;
    const bytes = await smallBody(header, body, MAX_REUSE_ENTRY);
    if (!store) throw new MigrationError('protocol', `reuse entry ${header.name} without a pre-copy`);
    const segment = paxNumber(header, PAX.segment);
    if (segment !== undefined) {
      const taken = store.take(segment);
      return images.adopt(header.name, taken.file, taken.bytes);
    }
    const runs = decodeRuns(bytes);
    images.appendWith(header.name, store.check(runs) * PAGE_SIZE, (fd) => store.copyRuns(runs, fd));
  }

  /** A CRIU image entry: appended to the file, or (an adopted pages image) written at an offset, given a tail, or sized. */
  private async image(header: tar.Header, body: EntryBody, images: FlatFileApplier): Promise<void> {
    const offset = paxNumber(header, PAX.offset);
    if (offset !== undefined) return resumingOnError(body, () => images.writeAt(header.name, offset, body));
    const tail = paxNumber(header, PAX.tail);
    const size = paxNumber(header, PAX.size);
    if (tail === undefined && size === undefined) return images.apply(header, body);
    await smallBody(header, body, 0);
    if (tail !== undefined) images.startTail(header.name, tail);
    if (size !== undefined) images.setSize(header.name, size);
  }

  private startRestore(target: ContainerInspect): PendingRestore {
    return prepareRestore({
      criuPath: this.ctx.criuPath,
      helperPid: target.State.Pid,
      container: target,
      imagesDir: path.join(this.scratch, 'images'),
      tree: this.spec.tree,
      lazyPages: this.lazyPages,
    });
  }

  /** criu restore into the target; a lazy one calls `resumed` when the tree runs (see PendingRestore.run). */
  async restore(resumed?: (restoreMs: number) => Promise<never>): Promise<RestoredTree> {
    const target = this.startedTarget();
    trace('dst: restore start');
    const pending = this.pendingRestore ?? this.startRestore(target);
    this.pendingRestore = undefined;
    const restored = await pending.run(resumed);
    // The helper read the marker when it started; a later start must run the original command.
    trace('dst: restored');
    fs.rmSync(path.join(overlayDirs(target).merged, RESTORE_MARKER), { force: true });
    return restored;
  }

  /** The target container, its helper still alive (waiting for the restore). */
  private startedTarget(): ContainerInspect {
    const t = this.target;
    if (!t) throw new Error('the target container was not started');
    try {
      process.kill(t.State.Pid, 0);
    } catch {
      throw new Error('the new container stopped before the restore');
    }
    return t;
  }

  /** For a restarted agent: what this migration made here, and whether it was committed. */
  saveRecord(committed: boolean): void {
    writeRecord(this.workDir, {
      role: 'destination',
      containerId: this.containerId,
      name: this.spec.container.name,
      volumes: [...this.createdVolumes],
      committed,
    });
  }

  /** After Commit: only the temporary files go. */
  finish(): void {
    this.store?.close();
    this.store = undefined;
    if (this.workDir) discardWorkDir(this.ctx.stateDir, this.workDir, this.scratch);
  }

  /** Anything failed before Commit: remove all that this migration made here. */
  async rollback(): Promise<void> {
    const { docker } = this.ctx;
    // Its waiting processes are in the container's cgroups: gone before the container goes.
    await this.pendingRestore?.cancel();
    this.pendingRestore = undefined;
    if (this.containerId) await docker.removeContainer(this.containerId, { force: true }).catch(() => undefined);
    for (const v of this.createdVolumes) await docker.removeVolume(v).catch(() => undefined);
    this.finish();
  }
}

/** A number in one of our pax records of an entry, if it has that record. */
function paxNumber(header: tar.Header, key: string): number | undefined {
  const text = readPax(header.name, header.pax)[key];
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(text)) throw new MigrationError('protocol', `tar entry ${header.name}: ${key} is not a number: ${JSON.stringify(text)}`);
  return Number(text);
}

/** The whole body of an entry that must be small (checked before it is read). */
async function smallBody(header: tar.Header, body: EntryBody, max: number): Promise<Buffer> {
  if (header.type !== 'file' || header.size > max) {
    body.resume();
    throw new MigrationError('protocol', `tar entry ${header.name} is not a file of at most ${max} bytes`);
  }
  const parts: Buffer[] = [];
  for await (const data of body) parts.push(data as Buffer);
  return Buffer.concat(parts);
}

/** Docker's json-file logger appends (O_APPEND): old lines land before the restored app's. */
async function appendLog(logPath: string, body: EntryBody): Promise<void> {
  if (!logPath) {
    for await (const _ of body) void _; // no json-file log here: drop the history
    return;
  }
  const out = await fs.promises.open(logPath, 'a');
  try {
    for await (const data of body) await out.write(data as Buffer);
  } finally {
    await out.close();
  }
}

function parseSpec(p: Prepare): PrepareSpec {
  if (p.protocolVersion !== PROTOCOL_VERSION) {
    throw new MigrationError('precondition', `protocol version ${p.protocolVersion} is not supported (this agent speaks ${PROTOCOL_VERSION})`);
  }
  const spec = JSON.parse(p.specJson) as PrepareSpec;
  if (spec.container?.specVersion !== SPEC_VERSION) {
    throw new MigrationError('precondition', `container spec version ${spec.container?.specVersion} is not supported`);
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(spec.container.name)) {
    throw new MigrationError('precondition', `invalid container name "${spec.container.name}"`);
  }
  if (!/^[a-zA-Z0-9-]{1,64}$/.test(p.migrationId)) throw new MigrationError('precondition', 'invalid migration id');
  if (!isValidLevel(p.compressLevel)) throw new MigrationError('precondition', `unsupported compression level ${p.compressLevel}`);
  return spec;
}

/** Migrations being served here: a source asking whether one committed waits for its end. */
export const servingMigrations = new InProgress();

/** Runs one migration on the destination; throws (after rolling back) on any failure. */
export async function serveMigration(ctx: DestinationContext, ch: DestinationChannel): Promise<void> {
  const first = await next(ch, 'Prepare');
  if (first.body !== 'prepare') throw new MigrationError('protocol', `expected Prepare, got ${first.body}`);
  const spec = parseSpec(first.prepare);
  await servingMigrations.run(first.prepare.migrationId, () => servePrepared(ctx, ch, first.prepare, spec));
}

async function servePrepared(ctx: DestinationContext, ch: DestinationChannel, prepare: Prepare, spec: PrepareSpec): Promise<void> {
  const m = new DestinationMigration(ctx, prepare, spec);
  const name = spec.container.name;
  await m.check();
  let committed = false;
  try {
    const id = await m.createTarget();
    ctx.log(`migration ${prepare.migrationId}: ${name} created as ${id.slice(0, 12)}, waiting for the stream`);
    ch.send({ body: 'prepared', prepared: { containerId: id, nodeName: ctx.nodeName } });
    await m.receivePrecopy(ch);
    const { receiveMs } = await m.receive(ch);
    let commitNext: Promise<MigrateRequest> | undefined;
    const { appPid, resumeMs, pagesInMs, lazyPages } = await m.restore((restoreMs) => {
      ch.send({ body: 'resumed', resumed: { restoreMs } });
      // The source is watched from now on: gone while the memory comes in, it would resume its
      // copy (a rollback) while this one runs. The restore stops, the finally below removes it.
      commitNext = next(ch, 'Commit');
      commitNext.catch(() => undefined); // awaited below, unless the restore failed first
      const stop = commitNext.then((r): never => {
        throw new MigrationError('protocol', `expected nothing before Restored, got ${r.body}`);
      });
      stop.catch(() => undefined);
      return stop;
    });
    ctx.log(`migration ${prepare.migrationId}: ${name} restored (pid ${appPid}${lazyPages ? `, its memory copied in ${pagesInMs.toFixed(0)} ms after it resumed` : ''})`);
    ch.send({ body: 'restored', restored: { receiveMs, restoreMs: resumeMs, appPid, lazyPages, pagesInMs } });
    const commit = await (commitNext ?? next(ch, 'Commit'));
    if (commit.body !== 'commit') throw new MigrationError('protocol', `expected Commit, got ${commit.body}`);
    m.saveRecord(true);
    markCommitted(ctx.stateDir, prepare.migrationId); // what a recovering source will ask
    committed = true;
    const lost = injectedFault('lose-committed');
    if (!lost) ch.send({ body: 'committed', committed: {} });
    // Committed: the container lives here now, whatever happens to the temporary files.
    try {
      m.finish();
    } catch (err) {
      ctx.log(`migration ${prepare.migrationId}: cannot remove its temporary files: ${(err as Error).message}`);
    }
    if (lost) throw new MigrationError('failed', 'injected fault: Committed is not sent');
  } catch (err) {
    if (err instanceof CriuError) err.message += keepCriuLog(ctx.stateDir, prepare.migrationId, err.logFile);
    throw err;
  } finally {
    if (!committed) {
      ctx.log(`migration ${prepare.migrationId}: rolling back ${name}`);
      await m.rollback();
    }
  }
}
