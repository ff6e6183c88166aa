// `checkpoint --out FILE`, the source's phases with a file for a destination (file-source-channel.ts):
//   facts       the push's pre-flight: refusals before anything is frozen; the file is created
//   prepare     the header and the Prepare record (what a restore recreates, as a push sends it)
//   checkpoint  freeze, criu dump, the checkpoint stream as records while CRIU writes it
//   verify      the end mark and digest written, fsynced, the file read back and checked
//   then        --leave-running: the container resumes here; else Commit: it is stopped and removed
// Any failure before that: the partial file goes and the container runs on (push's rollBack).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { criuVersion } from '../../criu/criu-check';
import { kernelRelease } from '../../host/host-facts';
import { CheckpointFileReader, CheckpointFileWriter, type CheckpointHeader } from '../../protocol/checkpoint-file';
import { MigrationError } from '../../protocol/migration-error';
import { migrateCodec } from '../../rpc/migrate-codec';
import type { CheckpointDone, PushEvent } from '../../rpc/messages';
import { isValidLevel } from '../../stream/compress-level';
import { PROTOCOL_VERSION } from '../../version';
import { thawCgroup } from '../cgroup-freezer';
import type { SourceContext } from '../context';
import { discardWorkDir, migrationsDir } from '../migration-record';
import { makeMigrationScratch } from '../scratch-dir';
import { freezeAndDump, sendCheckpoint } from '../source/checkpoint';
import { cleanUpSource, rollBack } from '../source/cleanup';
import { commit } from '../source/commit';
import { gatherFacts, scratchFor, type SourceFacts } from '../source/facts';
import type { Push } from '../source/one-push';
import { PhaseClock } from '../source/phase-clock';
import { prepare } from '../source/prepare';
import { treeProcesses } from './container-processes';
import { buildCheckpointImage, checkImageName, imageScratch } from './checkpoint-image';
import { FileSourceChannel } from './file-source-channel';
import { waitForLog, type LogWait } from './when-log';

export interface CheckpointOptions {
  container: string;
  /** Absolute path on this host; must not exist yet ('' with image). */
  file: string;
  /** Instead of a file: an image NAME:TAG to build (checkpoint-image.ts); the file is then temporary. */
  image?: string;
  leaveRunning: boolean;
  compressLevel: number;
  /** Checkpoint once the container's output (or a file in it) shows a matching line. */
  whenLog?: LogWait;
  emit: (ev: PushEvent) => void;
}

/** What was written (the Checkpoint RPC's CheckpointDone): `frozenMs` is freeze -> the file verified. */
export type CheckpointResult = CheckpointDone;

/** Refuses a path the checkpoint cannot be written to, before anything is frozen. */
function checkOutPath(file: string): void {
  if (!path.isAbsolute(file)) throw new MigrationError('precondition', `--out must be an absolute path on the agent's host: ${file}`);
  if (!fs.statSync(path.dirname(file), { throwIfNoEntry: false })?.isDirectory()) {
    throw new MigrationError('precondition', `the directory of ${file} does not exist`);
  }
  if (fs.lstatSync(file, { throwIfNoEntry: false })) throw new MigrationError('precondition', `${file} exists; a checkpoint never overwrites a file`);
}

function openFile(file: string): CheckpointFileWriter {
  try {
    return new CheckpointFileWriter(file, migrateCodec());
  } catch (err) {
    throw new MigrationError('precondition', `cannot create ${file}: ${(err as Error).message}`);
  }
}

export async function runCheckpoint(ctx: SourceContext, o: CheckpointOptions): Promise<CheckpointResult> {
  const clock = new PhaseClock(o.emit);
  clock.start('preflight');
  if (!isValidLevel(o.compressLevel)) throw new MigrationError('precondition', `unsupported compression level ${o.compressLevel}`);
  if (o.image) checkImageName(o.image);
  const file = o.image ? path.join(imageScratch(ctx.stateDir), `${crypto.randomUUID()}.ckpt`) : o.file;
  if (o.image) fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  checkOutPath(file);
  const criu = await criuVersion(ctx.criuPath); // before --when-log: from its match on, only what must come before the freeze
  if (o.whenLog) {
    clock.start('wait-log', `for /${o.whenLog.regex}/`);
    const line = await waitForLog(ctx.docker, o.container, o.whenLog);
    clock.done('wait-log', `matched ${JSON.stringify(line.slice(0, 80))}`);
  }
  const f = await gatherFacts(ctx, o.container);
  // A checkpoint holds a running process; a stopped container moves cold by push instead.
  if (f.cold) throw new MigrationError('precondition', `container ${f.name} is not running (${f.inspect.State.Status})`);
  const under = scratchFor(ctx, f);
  ctx.inFlight.add(f.inspect.Id);
  try {
    const writer = openFile(file);
    const ch = new FileSourceChannel(writer, () => fileHeader(ctx, f, criu, o.compressLevel));
    const migrationId = crypto.randomUUID();
    const scratch = path.join(under, migrationId);
    const p: Push = {
      ctx, f, ch, clock,
      opts: { container: o.container, destination: o.image ? `image:${o.image}` : `file:${file}`, keepSource: false, compressLevel: o.compressLevel, serial: false, precopy: false,
        lazyPages: 'LAZY_PAGES_NEVER', connect: () => Promise.resolve(ch), emit: o.emit },
      state: { migrationId, workDir: path.join(migrationsDir(ctx.stateDir), migrationId), scratch, imagesDir: path.join(scratch, 'images'),
        precopyBytes: 0, diskRounds: false, frozen: false, committed: false, committing: false, undecided: false },
    };
    return await checkpointOpened(p, writer, { ...o, file });
  } finally {
    ctx.inFlight.delete(f.inspect.Id);
    if (o.image) fs.rmSync(file, { force: true }); // in the image now, or the checkpoint failed
  }
}

async function checkpointOpened(p: Push, writer: CheckpointFileWriter, o: CheckpointOptions): Promise<CheckpointResult> {
  const { ctx, f, clock, state } = p;
  try {
    makeMigrationScratch(state.scratch);
    await prepare(p);
    const dumping = await freezeAndDump(p);
    await sendCheckpoint(p, dumping, undefined, undefined);
    clock.start('verify');
    const digest = await writer.finish();
    const header = verifyWritten(o.file, digest);
    clock.done('verify', `${writer.bytes} bytes, sha256 ${digest.slice(0, 16)}`);
    if (o.image) {
      clock.start('image', `docker build ${o.image}`);
      await buildCheckpointImage(ctx.docker, o.file, header, digest, o.image);
      clock.done('image', `${o.image}: ${header.image} and the checkpoint as one layer`);
    }
    let sourceCleanupError = '';
    if (o.leaveRunning) await resumeHere(p);
    else {
      await commit(p, { containerId: '', nodeName: `file ${o.file}` });
      sourceCleanupError = await cleanUpSource(p);
    }
    const frozenMs = performance.now() - dumping.freezeAt;
    ctx.log(`checkpointed ${f.name} to ${o.image ? `image ${o.image}` : o.file}: ${writer.bytes} bytes, ${o.leaveRunning ? 'left running' : 'removed'}`);
    return {
      container: f.name, file: o.image ? '' : o.file, image: o.image ?? '', bytes: writer.bytes, digest, frozenMs, totalMs: performance.now() - clock.t0,
      leftRunning: o.leaveRunning, phaseMs: clock.phaseMs, sourceCleanupError,
    };
  } catch (err) {
    throw await rollBack(p, err);
  }
}

/** Reads the finished file back: what a restore will check, checked before the container goes. Returns its header. */
function verifyWritten(file: string, digest: string): CheckpointHeader {
  const r = new CheckpointFileReader(file, migrateCodec());
  try {
    if (r.verify() !== digest) throw new MigrationError('failed', `${file} does not read back as written`);
    return r.header;
  } finally {
    r.close();
  }
}

/** --leave-running: the file is complete, so the frozen tree resumes here (CRIU has exited) and the scratch goes. */
async function resumeHere(p: Push): Promise<void> {
  const { ctx, f, state } = p;
  await state.dumping; // CRIU puts the freezer back as it found it (FROZEN) when it exits: thaw after that
  thawCgroup(f.freezerDir);
  state.frozen = false;
  discardWorkDir(ctx.stateDir, state.workDir, state.scratch);
}

function fileHeader(ctx: SourceContext, f: SourceFacts, criu: string, compressLevel: number): CheckpointHeader {
  const c = f.prepare.container;
  return {
    container: f.name,
    containerId: f.inspect.Id,
    image: c.imageRef,
    imageId: c.imageId,
    created: new Date().toISOString(),
    host: ctx.nodeName,
    criuVersion: criu,
    kernel: kernelRelease(),
    arch: os.arch(),
    protocolVersion: PROTOCOL_VERSION,
    compressLevel,
    processes: treeProcesses(f.dumpPid),
  };
}
