// `inspect FILE`: what a checkpoint file holds, read the way a restore reads it (header, digest,
// the checkpoint stream verified, decompressed and untarred) without restoring anything: the
// container it recreates, where and with what it was dumped, its processes, sizes per part.
import { Readable } from 'node:stream';
import { CheckpointFileReader, FORMAT_VERSION, type CheckpointHeader } from '../../protocol/checkpoint-file';
import { LOG_ENTRY, PREFIX } from '../../protocol/checkpoint-layout';
import { MigrationError } from '../../protocol/migration-error';
import { migrateCodec } from '../../rpc/migrate-codec';
import type { End, MigrateRequest } from '../../rpc/messages';
import { decompressed } from '../../stream/chunk-stream';
import { payloads, sealedChunks } from '../../stream/sealed-receiver';
import type { DockerClient } from '../../docker/docker-client';
import { untar } from '../destination/untar';
import { imageScratch, withImageFile } from './checkpoint-image';
import type { PrepareSpec } from '../prepare-spec';

export interface CheckpointContents {
  file: string;
  formatVersion: number;
  /** SHA-256 of the file (hex), checked against the one stored in it. */
  digest: string;
  fileBytes: number;
  header: CheckpointHeader;
  /** What a restore creates (from the Prepare record). */
  restoresAs: { name: string; image: string; mounts: string[]; networks: string[] };
  /** Bytes per part, as the restore writes them. */
  parts: { memoryPages: number; criuImages: number; rootfs: number; volumes: Record<string, number>; log: number };
  /** The checkpoint stream: before compression and as stored. */
  stream: { rawBytes: number; storedBytes: number; chunks: number };
}

export async function inspectFile(file: string): Promise<CheckpointContents> {
  const reader = new CheckpointFileReader(file, migrateCodec());
  try {
    const digest = reader.verify();
    const first = reader.next();
    if (first?.body !== 'prepare') throw new MigrationError('protocol', `${file} does not start with a Prepare record`);
    const spec = JSON.parse(first.prepare.specJson) as PrepareSpec;
    const c = spec.container;
    const parts: CheckpointContents['parts'] = { memoryPages: 0, criuImages: 0, rootfs: 0, volumes: {}, log: 0 };
    const next = async (): Promise<MigrateRequest> => {
      for (;;) {
        const r = reader.next();
        if (r === null) throw new MigrationError('protocol', `${file} ends before the checkpoint stream's End`);
        if (r.body === 'chunk' || r.body === 'end') return r; // disk rounds and pre-copy (none in files written today) are skipped
      }
    };
    const got: { end?: End } = {};
    await untar(Readable.from(decompressed(payloads(sealedChunks('checkpoint', next, got)), first.prepare.compressLevel)), async (h, body) => {
      const size = h.size ?? 0;
      if (h.name === LOG_ENTRY) parts.log += size;
      else if (h.name.startsWith(PREFIX.rootfs)) parts.rootfs += size;
      else if (h.name.startsWith(PREFIX.volumes)) {
        const v = h.name.slice(PREFIX.volumes.length).split('/')[0];
        parts.volumes[v] = (parts.volumes[v] ?? 0) + size;
      } else if (/^(criu|reuse)\/pages-/.test(h.name)) parts.memoryPages += size;
      else parts.criuImages += size;
      for await (const _ of body) void _; // sizes only: the bodies are read past
    });
    return {
      file,
      formatVersion: FORMAT_VERSION,
      digest,
      fileBytes: reader.size,
      header: reader.header,
      restoresAs: {
        name: c.name,
        image: `${c.imageRef} (${c.imageId.slice(0, 19)})`,
        mounts: c.mounts.map((m) => `${m.type} ${m.type === 'volume' ? m.name : m.source} -> ${m.destination}`),
        networks: c.networks.map((n) => [n.name, n.ipv4Address, n.ipv6Address].filter(Boolean).join(' ')),
      },
      parts,
      stream: { rawBytes: got.end?.rawBytes ?? 0, storedBytes: got.end?.wireBytes ?? 0, chunks: got.end?.chunks ?? 0 },
    };
  } finally {
    reader.close();
  }
}

/** `inspect --image NAME`: the image's checkpoint file, inspected (named as the image in `file`). */
export function inspectImage(docker: DockerClient, stateDir: string, image: string): Promise<CheckpointContents> {
  return withImageFile(docker, image, imageScratch(stateDir), async (file) => ({ ...(await inspectFile(file)), file: `image ${image}` }));
}
