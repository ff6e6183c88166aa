import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointFileWriter, type CheckpointHeader } from '../../protocol/checkpoint-file';
import { LOG_ENTRY } from '../../protocol/checkpoint-layout';
import { migrateCodec } from '../../rpc/migrate-codec';
import { SealedSender } from '../../stream/sealed-sender';
import { FileSourceChannel } from './file-source-channel';
import { inspectFile } from './inspect-file';

const header: CheckpointHeader = {
  container: 'web', containerId: 'c0ffee', image: 'busybox:latest', imageId: 'sha256:0123456789abcdef0123', created: '2026-01-01T00:00:00.000Z',
  host: 'node1', criuVersion: '4.2.1', kernel: '6.1.0', arch: 'x64', protocolVersion: 7, compressLevel: 3,
  processes: [{ pid: 10, command: 'sh -c loop' }, { pid: 11, command: 'sleep 1' }],
};

const spec = {
  container: { name: 'web', imageRef: 'busybox:latest', imageId: 'sha256:0123456789abcdef0123', networks: [{ name: 'bridge', ipv4Address: '', ipv6Address: '', aliases: [] }],
    mounts: [{ type: 'volume', name: 'data', source: '/var/lib/docker/volumes/data/_data', destination: '/data' }] },
  tree: { externalMounts: '', stdio: [] },
};

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-inspect-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A file as `checkpoint --out` writes one: through the file channel, a tar stream sealed into chunks. */
async function checkpointFile(entries: Array<[string, number]>): Promise<string> {
  const file = path.join(dir, 'web.ckpt');
  const writer = new CheckpointFileWriter(file, migrateCodec());
  const ch = new FileSourceChannel(writer, () => header);
  await ch.send({ body: 'prepare', prepare: { protocolVersion: 7, migrationId: 'm', sourceNode: 'node1', specJson: JSON.stringify(spec), estimatedBytes: 0,
    compressLevel: 3, precopyBytes: 0, lazyRestore: 'LAZY_RESTORE_NO', diskRounds: false, fileBytes: 0, leaseMs: 0 } });
  const out = new SealedSender({ ch, stream: 'checkpoint', compressLevel: 3, stallMs: 10_000, rawTotal: 0, emit: () => undefined });
  const pack = tar.pack();
  for (const [name, size] of entries) pack.entry({ name, size }, Buffer.alloc(size, 1));
  pack.finalize();
  for await (const data of pack as AsyncIterable<Buffer>) await out.push(data);
  await out.end();
  await writer.finish();
  return file;
}

describe('inspectFile', () => {
  it('tells the header, what a restore creates, and the bytes of each part', async () => {
    const file = await checkpointFile([
      ['rootfs/etc/hostname', 100], ['volumes/data/db', 5000], ['criu/core-1.img', 300], ['criu/pages-1.img', 65536], ['criu/pages-2.img', 4096],
      ['criu/pstree.img', 20], [LOG_ENTRY, 777],
    ]);
    const c = await inspectFile(file);
    expect(c.header).toEqual(header);
    expect(c.restoresAs).toEqual({ name: 'web', image: 'busybox:latest (sha256:0123456789ab)', mounts: ['volume data -> /data'], networks: ['bridge'] });
    expect(c.parts).toEqual({ memoryPages: 69632, criuImages: 320, rootfs: 100, volumes: { data: 5000 }, log: 777 });
    expect(c.fileBytes).toBe(fs.statSync(file).size);
    expect(c.stream.rawBytes).toBeGreaterThan(69632 + 320 + 100 + 5000 + 777);
    expect(c.stream.storedBytes).toBeLessThan(c.stream.rawBytes); // zstd
    expect(c.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a corrupt file', async () => {
    const file = await checkpointFile([['criu/pages-1.img', 4096]]);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0x55]), 0, 1, fs.statSync(file).size - 40);
    fs.closeSync(fd);
    await expect(inspectFile(file)).rejects.toThrow(/corrupt or truncated/);
  });
});
