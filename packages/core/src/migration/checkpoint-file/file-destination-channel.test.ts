import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CheckpointFileReader, CheckpointFileWriter, type CheckpointHeader } from '../../protocol/checkpoint-file';
import { migrateCodec } from '../../rpc/migrate-codec';
import type { MigrateRequest } from '../../rpc/messages';
import { fileDestinationChannel } from './file-destination-channel';

const header = { container: 'web', containerId: 'c', image: 'busybox', imageId: 'sha256:1', created: '', host: 'node1', criuVersion: '4.2.1', kernel: '6.1',
  arch: 'x64', protocolVersion: 7, compressLevel: 0, processes: [] } satisfies CheckpointHeader;
const prepare: MigrateRequest = { body: 'prepare', prepare: { protocolVersion: 7, migrationId: 'original', sourceNode: 'node1',
  specJson: JSON.stringify({ container: { name: 'web', specVersion: 1 }, tree: {} }), estimatedBytes: 0, compressLevel: 0, precopyBytes: 0,
  lazyRestore: 'LAZY_RESTORE_NO', diskRounds: false, fileBytes: 0, leaseMs: 0 } };
const end: MigrateRequest = { body: 'end', end: { chunks: 0, wireBytes: 0, rawBytes: 0, crc32: 0 } };

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'file-dst-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function reader(records: MigrateRequest[]): Promise<CheckpointFileReader> {
  const file = path.join(dir, `f${fs.readdirSync(dir).length}`);
  const w = new CheckpointFileWriter(file, migrateCodec());
  await w.header(header);
  for (const r of records) await w.record(r);
  await w.finish();
  const r = new CheckpointFileReader(file, migrateCodec());
  r.verify();
  return r;
}

describe('fileDestinationChannel', () => {
  it('gives the Prepare a migration ID of its own each time, and the name asked for', async () => {
    const ids = new Set<string>();
    for (const name of [undefined, 'web2']) {
      const ch = fileDestinationChannel(await reader([prepare, end]), name);
      const first = (await ch.requests.next()).value as Extract<MigrateRequest, { body: 'prepare' }>;
      ids.add(first.prepare.migrationId);
      expect((JSON.parse(first.prepare.specJson) as { container: { name: string } }).container.name).toBe(name ?? 'web');
    }
    expect(ids.size).toBe(2);
    expect(ids.has('original')).toBe(false);
  });

  it('says Commit at the file\'s end only after Restored; until then echoes the lease\'s beats; a file ending before End ends the stream (a rollback)', async () => {
    const ch = fileDestinationChannel(await reader([prepare, end]), undefined);
    await ch.requests.next();
    expect((await ch.requests.next()).value).toEqual(end);
    ch.send({ body: 'restored', restored: { receiveMs: 0, restoreMs: 0, appPid: 1, lazyPages: false, pagesInMs: 0 } });
    expect((await ch.requests.next()).value).toEqual({ body: 'commit', commit: {} });
    expect((await ch.requests.next()).done).toBe(true);

    const waiting = fileDestinationChannel(await reader([prepare, end]), undefined);
    await waiting.requests.next();
    await waiting.requests.next();
    const after = waiting.requests.next();
    let settled = false;
    void after.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false); // End read, no Restored yet: no Commit, and no end either
    waiting.send({ body: 'heartbeat', heartbeat: { seq: 7 } });
    expect((await after).value).toEqual({ body: 'heartbeat', heartbeat: { seq: 7 } });

    const early = fileDestinationChannel(await reader([prepare]), undefined);
    await early.requests.next();
    expect((await early.requests.next()).done).toBe(true);
  });

  it('refuses a file that holds a Commit', async () => {
    const ch = fileDestinationChannel(await reader([prepare, { body: 'commit', commit: {} }]), undefined);
    await ch.requests.next();
    await expect(ch.requests.next()).rejects.toThrow(/holds a Commit record/);
  });
});
