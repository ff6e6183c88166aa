// The bounds an entry router puts on what one stream writes, from what Prepare announced.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerInspect } from '../../docker/docker-client';
import { FlatFileApplier, type EntryBody } from '../../fsdiff';
import { GROWTH_SLACK, withGrowth } from '../../protocol/checkpoint-layout';
import { EntryRouter } from './checkpoint';
import { TreeAppliers } from './tree-appliers';

const MiB = 1024 * 1024;

/** An entry's body that tells whether anyone read it. */
function body(data: Buffer): EntryBody & { read: boolean } {
  const b = {
    read: false,
    resume: () => undefined,
    async *[Symbol.asyncIterator]() {
      b.read = true;
      yield data;
    },
  };
  return b;
}

function file(name: string, size: number): tar.Header {
  return { name, size, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: new Date() } as tar.Header;
}

describe('EntryRouter bounds (what Prepare announced, with room to grow)', () => {
  let dir: string;
  let trees: TreeAppliers;
  const merged = (): string => path.join(dir, 'merged');
  const volume = (): string => path.join(dir, 'volume');

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'entry-router-'));
    for (const d of [merged(), volume(), path.join(dir, 'images')]) fs.mkdirSync(d);
    trees = new TreeAppliers({
      GraphDriver: { Name: 'overlay2', Data: { UpperDir: path.join(dir, 'upper'), MergedDir: merged() } },
      Mounts: [{ Type: 'volume', Name: 'data', Source: volume(), Destination: '/data' }],
    } as unknown as ContainerInspect);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is twice the announcement plus 256 MiB', () => {
    expect(withGrowth(0)).toBe(GROWTH_SLACK);
    expect(withGrowth(100 * MiB)).toBe(200 * MiB + 256 * MiB);
  });

  it('refuses a file entry that takes the stream past the bound, from its header, before its body is read or written', async () => {
    const route = new EntryRouter({ trees, fileBytes: 1000 });
    const big = body(Buffer.alloc(16));
    await expect(route.entry(file('volumes/data/big', withGrowth(1000) + 1), big))
      .rejects.toThrow(`tar entry volumes/data/big (${withGrowth(1000) + 1} bytes) takes the stream past ${withGrowth(1000)} bytes of files (Prepare announced 1000; twice that and 256 MiB are allowed)`);
    expect(big.read).toBe(false);
    expect(fs.readdirSync(volume())).toEqual([]);
  });

  it('counts what the stream already wrote, in all trees and the log', async () => {
    const route = new EntryRouter({ trees, fileBytes: 0, images: { applier: new FlatFileApplier(path.join(dir, 'images')), store: undefined, logPath: path.join(dir, 'log') } });
    await route.entry(file('rootfs/a', 3 * MiB), body(Buffer.alloc(3 * MiB)));
    await route.entry(file('logs/container-json.log', MiB), body(Buffer.alloc(MiB)));
    expect(fs.statSync(path.join(merged(), 'a')).size).toBe(3 * MiB);
    const rest = GROWTH_SLACK - 4 * MiB;
    await expect(route.entry(file('volumes/data/b', rest + 1), body(Buffer.alloc(1)))).rejects.toThrow(/takes the stream past 268435456 bytes of files/);
    await expect(route.entry(file('logs/container-json.log', rest + 1), body(Buffer.alloc(1)))).rejects.toThrow(/takes the stream past/);
    // A new stream (the next disk round) may send the trees whole again.
    const next = new EntryRouter({ trees, fileBytes: 0 });
    await expect(next.entry(file('volumes/data/b', rest + 1), body(Buffer.alloc(0)))).rejects.toThrow(/body is truncated/);
  });
});
