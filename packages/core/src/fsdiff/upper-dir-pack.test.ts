import { packAndFinalize } from './test-support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar-stream';
import { packTree, type PackStats, type PackTreeOptions } from './upper-dir-pack';
import { runCommand } from '../util/exec';
import { setXattr } from './xattrs';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdiff-pack-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Collected {
  header: tar.Header;
  body: Buffer;
}

/** Packs `root` and reads the tar back, returning every entry with its body. */
async function packAndCollect(
  root: string,
  prefix: string,
  opts: PackTreeOptions,
): Promise<{ stats: PackStats; entries: Collected[] }> {
  const pack = tar.pack();
  const extract = tar.extract();
  pack.pipe(extract);
  const packing = packAndFinalize(pack, root, prefix, opts);
  const entries: Collected[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ header: entry.header, body: Buffer.concat(chunks) });
  }
  return { stats: await packing, entries };
}

function byName(entries: Collected[], name: string): Collected {
  const found = entries.find((e) => e.header.name === name);
  if (found === undefined) throw new Error(`no entry ${name} in ${entries.map((e) => e.header.name).join(', ')}`);
  return found;
}

async function expectPackError(opts: PackTreeOptions, message: RegExp): Promise<void> {
  const pack = tar.pack();
  await expect(packTree(pack, dir, 'rootfs/', opts)).rejects.toThrow(message);
  pack.destroy();
}

// A later round (xattrs 'changed') walks with the native helper and reads the xattrs of what goes
// after the walk: with nothing sent before, the same stream as a first round's.
describe.each([
  { walk: 'with lstat, as a first round', later: {} },
  { walk: 'natively, as a later round', later: { xattrs: 'changed' } as const },
])('packTree walking $walk', ({ later }) => {
  it('emits a sorted depth-first stream with overlay semantics', async () => {
    fs.mkdirSync(path.join(dir, 'b/inner'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'a'));
    fs.mkdirSync(path.join(dir, 'skip/deeper'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'skip/deeper/secret'), 'no');
    fs.writeFileSync(path.join(dir, 'b/inner/file'), 'content');
    fs.writeFileSync(path.join(dir, 'shadow'), 'root only', { mode: 0 });
    fs.chmodSync(path.join(dir, 'shadow'), 0);
    fs.linkSync(path.join(dir, 'b/inner/file'), path.join(dir, 'c-link'));
    fs.writeFileSync(path.join(dir, 'bigid'), '');
    fs.chownSync(path.join(dir, 'bigid'), 300000, 300001);
    await runCommand('mknod', [path.join(dir, 'whiteout'), 'c', '0', '0']);
    await setXattr(path.join(dir, 'a'), 'trusted.overlay.opaque', Buffer.from('y'));
    await setXattr(path.join(dir, 'b'), 'trusted.overlay.origin', Buffer.from([1, 2, 3]));
    await setXattr(path.join(dir, 'b'), 'user.kept', Buffer.from('v'));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'sock'), resolve));

    try {
      const { stats, entries } = await packAndCollect(dir, 'rootfs/', { overlay: true, exclude: ['skip'], ...later });
      expect(entries.map((e) => `${e.header.type} ${e.header.name}`)).toEqual([
        'directory rootfs/.',
        'directory rootfs/a',
        'directory rootfs/b',
        'directory rootfs/b/inner',
        'file rootfs/b/inner/file',
        'file rootfs/bigid',
        'link rootfs/c-link',
        'file rootfs/shadow',
        'character-device rootfs/whiteout',
      ]);
      expect(stats).toEqual({ entries: 9, fileBytes: 'content'.length + 'root only'.length, deleted: 0 });

      expect(byName(entries, 'rootfs/a').header.pax).toMatchObject({ 'SCHILY.xattr.trusted.overlay.opaque': 'y' });
      const bPax = byName(entries, 'rootfs/b').header.pax;
      expect(bPax).toMatchObject({ 'SCHILY.xattr.user.kept': 'v' });
      expect(Object.keys(bPax as object).filter((k) => k.includes('overlay'))).toEqual([]);
      expect(byName(entries, 'rootfs/b/inner/file').body.toString()).toBe('content');
      expect(byName(entries, 'rootfs/c-link').header.linkname).toBe('rootfs/b/inner/file');
      expect(byName(entries, 'rootfs/shadow').header.mode).toBe(0);
      expect(byName(entries, 'rootfs/bigid').header.pax).toMatchObject({ uid: '300000', gid: '300001' });
      const whiteout = byName(entries, 'rootfs/whiteout').header;
      expect([whiteout.devmajor, whiteout.devminor]).toEqual([0, 0]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('never looks at paths matching excludePattern (CRIU makes and removes its temporaries while a frozen tree is read)', async () => {
    fs.mkdirSync(path.join(dir, 'tmp/cr-tmpfs.Ab12Cd'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tmp/cr-tmpfs.Ab12Cd/x'), 'x');
    fs.writeFileSync(path.join(dir, 'tmp/kept'), 'k');
    const { entries } = await packAndCollect(dir, 'rootfs/', { overlay: true, excludePattern: /^tmp\/cr-tmpfs\.[A-Za-z0-9]{6}$/, ...later });
    expect(entries.map((e) => e.header.name)).toEqual(['rootfs/.', 'rootfs/tmp', 'rootfs/tmp/kept']);
  });

  it('refuses redirect_dir and metacopy entries', async () => {
    fs.mkdirSync(path.join(dir, 'moved'));
    await setXattr(path.join(dir, 'moved'), 'trusted.overlay.redirect', Buffer.from('/orig'));
    await expectPackError({ overlay: true, ...later }, /overlay redirect_dir\/metacopy entries are not supported: .*moved/);

    fs.rmdirSync(path.join(dir, 'moved'));
    fs.writeFileSync(path.join(dir, 'meta'), '');
    await setXattr(path.join(dir, 'meta'), 'trusted.overlay.metacopy', Buffer.alloc(0));
    await expectPackError({ overlay: true, ...later }, /overlay redirect_dir\/metacopy entries are not supported: .*meta/);
  });

  it('refuses device nodes, and whiteouts or overlay xattrs outside overlay mode', async () => {
    await runCommand('mknod', [path.join(dir, 'null'), 'c', '1', '3']);
    await expectPackError({ overlay: true, ...later }, /device nodes in the container filesystem are not supported: .*null/);
    fs.rmSync(path.join(dir, 'null'));

    await runCommand('mknod', [path.join(dir, 'wh'), 'c', '0', '0']);
    await expectPackError({ overlay: false, ...later }, /device nodes .* not supported: .*wh/);
    fs.rmSync(path.join(dir, 'wh'));

    fs.mkdirSync(path.join(dir, 'o'));
    await setXattr(path.join(dir, 'o'), 'trusted.overlay.opaque', Buffer.from('y'));
    await expectPackError({ overlay: false, ...later }, /overlay xattr trusted.overlay.opaque found in a plain directory tree/);
  });

  it('refuses file names that are not UTF-8 instead of mangling them', async () => {
    fs.writeFileSync(Buffer.concat([Buffer.from(dir), Buffer.from([0x2f, 0xff, 0xfe])]), 'x');
    await expectPackError({ overlay: false, ...later }, /not valid UTF-8/);
  });

  it('validates its arguments', async () => {
    await expect(packTree(tar.pack(), dir, 'rootfs', { overlay: false })).rejects.toThrow(/prefix/);
    await expect(packTree(tar.pack(), dir, '', { overlay: false, exclude: ['/abs'] })).rejects.toThrow(/exclude/);
    await expect(packTree(tar.pack(), dir, '', { overlay: false, exclude: ['a/../b'] })).rejects.toThrow(/exclude/);
  });
});
