// `checkpoint --image NAME:TAG` and `restore|inspect --image`: a checkpoint file carried in a
// Docker image, so it travels as images do (docker save | load, a registry). The image is the
// container's base image plus one layer holding the file at IMAGE_PATH (0600, root), labelled
// with the file's format version. A restore reads the file back out of it (into this agent's
// private dir) and restores it as a file; the new container runs from the base image, as the
// checkpointed one did, not from this image.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import type { DockerClient } from '../../docker/docker-client';
import { FORMAT_VERSION, type CheckpointHeader } from '../../protocol/checkpoint-file';
import { MigrationError } from '../../protocol/migration-error';

/** Where the file lives in the image. */
export const IMAGE_PATH = '/.livemig/checkpoint';
export const LABEL = { format: 'livemig.checkpoint.format', container: 'livemig.checkpoint.container', digest: 'livemig.checkpoint.sha256' } as const;

/** This agent's private dir for checkpoint files on their way into or out of an image. */
export function imageScratch(stateDir: string): string {
  return path.join(stateDir, 'checkpoint-images');
}

/**
 * At the agent's start: files a crash left on their way into or out of an image (an image's
 * checkpoint is committed only once the image is built, so none is the only copy).
 */
export function clearImageScratch(stateDir: string): void {
  fs.rmSync(imageScratch(stateDir), { recursive: true, force: true });
}

/** NAME[:TAG] as Docker accepts it (lower case repository path, optional registry and tag). */
export function checkImageName(name: string): void {
  if (!/^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/.test(name)) {
    throw new MigrationError('precondition', `--image ${JSON.stringify(name)} is not an image name (name[:tag], lower case)`);
  }
}

/** Builds NAME:TAG: FROM the checkpointed container's base image, the file added as one layer. */
export async function buildCheckpointImage(docker: DockerClient, file: string, h: CheckpointHeader, digest: string, name: string): Promise<void> {
  const size = fs.statSync(file).size;
  const pack = tar.pack();
  const dockerfile = `FROM ${h.imageId}\nCOPY checkpoint ${IMAGE_PATH}\n`;
  pack.entry({ name: 'Dockerfile', mode: 0o644 }, dockerfile);
  const entry = pack.entry({ name: 'checkpoint', size, mode: 0o600, uid: 0, gid: 0 }, (err) => (err ? pack.destroy(err) : pack.finalize()));
  fs.createReadStream(file).on('error', (err) => pack.destroy(err)).pipe(entry);
  await docker.buildImage(pack as unknown as Readable, {
    tag: name,
    labels: { [LABEL.format]: String(FORMAT_VERSION), [LABEL.container]: h.container, [LABEL.digest]: digest },
  });
}

/**
 * Runs `use` with the checkpoint file of image `name`, copied out of it into `scratchDir` (0600)
 * and removed afterwards; refuses an image without one or of another format version, with why.
 */
export async function withImageFile<T>(docker: DockerClient, name: string, scratchDir: string, use: (file: string) => Promise<T>): Promise<T> {
  const image = await docker.inspectImage(name);
  if (!image) throw new MigrationError('precondition', `no image ${name} here`);
  const format = image.Config?.Labels?.[LABEL.format];
  if (format === undefined) throw new MigrationError('precondition', `image ${name} holds no livemig checkpoint (no ${LABEL.format} label)`);
  if (format !== String(FORMAT_VERSION)) {
    throw new MigrationError('precondition', `image ${name} holds checkpoint format version ${format}; this agent reads version ${FORMAT_VERSION} only`);
  }
  fs.mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  const file = path.join(scratchDir, `${crypto.randomUUID()}.ckpt`);
  // A container that is never started: the way to read a file of an image's tree.
  const id = await docker.createContainer({ Image: image.Id, Cmd: ['/nonexistent'], Entrypoint: [], Labels: { 'livemig.checkpoint.reader': '1' } });
  try {
    await extractOne(await docker.archive(id, IMAGE_PATH), file);
  } catch (err) {
    fs.rmSync(file, { force: true });
    throw err;
  } finally {
    await docker.removeContainer(id, { force: true });
  }
  try {
    return await use(file);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The single regular file of a tar stream, into `file` (created 0600, exclusively). */
async function extractOne(archive: Readable, file: string): Promise<void> {
  const extract = tar.extract();
  let found = false;
  extract.on('entry', (h, body, next) => {
    if (found || h.type !== 'file') {
      body.resume();
      return next(new MigrationError('precondition', `${IMAGE_PATH} in the image is not a single file`));
    }
    found = true;
    pipeline(body, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 })).then(() => next(), next);
  });
  await pipeline(archive, extract);
  if (!found) throw new MigrationError('precondition', `the image holds no ${IMAGE_PATH}`);
}
