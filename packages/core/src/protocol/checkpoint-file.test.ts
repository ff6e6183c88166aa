import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateCodec } from '../rpc/migrate-codec';
import type { MigrateRequest } from '../rpc/messages';
import { CheckpointFileReader, CheckpointFileWriter, FORMAT_VERSION, MAGIC, incompatibility, type CheckpointHeader } from './checkpoint-file';

const header: CheckpointHeader = {
  container: 'counter', containerId: 'abc', image: 'busybox:latest', imageId: 'sha256:1', created: '2026-01-01T00:00:00.000Z', host: 'node1',
  criuVersion: '4.2.1', kernel: '6.1.0', arch: 'x64', protocolVersion: 7, compressLevel: 1, processes: [{ pid: 10, command: 'sh -c loop' }],
};

const requests: MigrateRequest[] = [
  { body: 'prepare', prepare: { protocolVersion: 7, migrationId: 'm1', sourceNode: 'node1', specJson: '{}', estimatedBytes: 5, compressLevel: 1,
    precopyBytes: 0, lazyRestore: 'LAZY_RESTORE_NO', diskRounds: false, fileBytes: 0, leaseMs: 0 } },
  { body: 'chunk', chunk: { seq: 0, data: Buffer.alloc(300_000, 7), crc32: 42, segment: 0 } },
  { body: 'chunk', chunk: { seq: 1, data: Buffer.from('tail'), crc32: 43, segment: 0 } },
  { body: 'end', end: { chunks: 2, wireBytes: 300_004, rawBytes: 400_000, crc32: 43 } },
];

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ckpt-file-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function written(): Promise<{ file: string; digest: string }> {
  const file = path.join(dir, 'c.ckpt');
  const w = new CheckpointFileWriter(file, migrateCodec());
  await w.header(header);
  for (const r of requests) await w.record(r);
  return { file, digest: await w.finish() };
}

function readAll(file: string): MigrateRequest[] {
  const r = new CheckpointFileReader(file, migrateCodec());
  try {
    r.verify();
    const out: MigrateRequest[] = [];
    for (let m = r.next(); m; m = r.next()) out.push(m);
    return out;
  } finally {
    r.close();
  }
}

describe('checkpoint file', () => {
  it('is created 0600, and reads back header, records and digest as written', async () => {
    const { file, digest } = await written();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const r = new CheckpointFileReader(file, migrateCodec());
    expect(r.header).toEqual(header);
    expect(r.verify()).toBe(digest);
    r.close();
    const back = readAll(file);
    expect(back.map((m) => m.body)).toEqual(['prepare', 'chunk', 'chunk', 'end']);
    const chunk = back[1];
    expect(chunk.body === 'chunk' && chunk.chunk.data.equals(Buffer.alloc(300_000, 7))).toBe(true);
  });

  it('never overwrites an existing file', async () => {
    const { file } = await written();
    expect(() => new CheckpointFileWriter(file, migrateCodec())).toThrow(/EEXIST/);
  });

  it('refuses a corrupted file before any record is read', async () => {
    const { file } = await written();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0xff]), 0, 1, 200_000);
    fs.closeSync(fd);
    expect(() => readAll(file)).toThrow(/corrupt or truncated/);
  });

  it('refuses a truncated file', async () => {
    const { file } = await written();
    fs.truncateSync(file, fs.statSync(file).size - 1000);
    expect(() => readAll(file)).toThrow(/corrupt or truncated|truncated/);
    fs.truncateSync(file, 20);
    expect(() => readAll(file)).toThrow(/too short|truncated/);
  });

  it('refuses another format version, naming both', async () => {
    const { file } = await written();
    const fd = fs.openSync(file, 'r+');
    const v = Buffer.alloc(2);
    v.writeUInt16BE(FORMAT_VERSION + 1);
    fs.writeSync(fd, v, 0, 2, MAGIC.length);
    fs.closeSync(fd);
    expect(() => readAll(file)).toThrow(`format version ${FORMAT_VERSION + 1}; this agent reads version ${FORMAT_VERSION} only`);
  });

  it('refuses a file that is not a checkpoint', () => {
    const file = path.join(dir, 'x');
    fs.writeFileSync(file, Buffer.alloc(4096, 1));
    expect(() => readAll(file)).toThrow(/not a livemig checkpoint file/);
  });

  it('notices a file changed after it was verified', async () => {
    const file = path.join(dir, 'big.ckpt');
    const w = new CheckpointFileWriter(file, migrateCodec());
    await w.header(header);
    // Past the first MiB, which the reader has read with the header.
    for (let seq = 0; seq < 3; seq++) await w.record({ body: 'chunk', chunk: { seq, data: Buffer.alloc(1024 * 1024, seq), crc32: 0, segment: 0 } });
    await w.finish();
    const r = new CheckpointFileReader(file, migrateCodec());
    r.verify();
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0xfe]), 0, 1, 2_500_000);
    fs.closeSync(fd);
    expect(() => {
      while (r.next());
    }).toThrow(/changed while it was restored/);
    r.close();
  });
});

describe('incompatibility', () => {
  const here = { arch: 'x64', criuVersion: '4.2.1', protocolVersion: 7 };
  it('accepts the same host, a newer CRIU and another kernel', () => {
    expect(incompatibility(header, here)).toBe('');
    expect(incompatibility({ ...header, kernel: '5.10.0' }, { ...here, criuVersion: '4.10' })).toBe('');
  });
  it('refuses another CPU, an older CRIU, another protocol, with the reason', () => {
    expect(incompatibility({ ...header, arch: 'arm64' }, here)).toBe('it was dumped on arm64; this host is x64');
    expect(incompatibility({ ...header, criuVersion: '4.3' }, here)).toBe('it was dumped by CRIU 4.3; this host has the older CRIU 4.2.1');
    expect(incompatibility({ ...header, protocolVersion: 6 }, here)).toMatch(/protocol 6; this agent speaks 7/);
  });
});
