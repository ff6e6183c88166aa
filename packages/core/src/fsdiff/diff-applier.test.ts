import { packAndFinalize } from './test-support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { DiffApplier, stripPrefix } from './diff-applier';
import { UnsafeEntryError } from './entry-checks';
import type { PackTreeOptions } from './upper-dir-pack';
import { runCommand } from '../util/exec';
import { readTreeXattrs, setXattr } from './xattrs';
import type { EntryHeader } from './tar-format';

let tmp: string;
let upper: string;
let merged: string;
/** A directory outside the applier's root that hostile entries try to reach. */
let outside: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdiff-apply-'));
  upper = path.join(tmp, 'upper');
  merged = path.join(tmp, 'merged');
  outside = path.join(tmp, 'outside');
  for (const d of [upper, merged, outside]) fs.mkdirSync(d);
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Test driver: feeds a tar stream through stripPrefix into the applier, as the product does per prefix. */
async function applyTar(input: tar.Pack, prefix: string, applier: DiffApplier): Promise<void> {
  const extract = tar.extract();
  input.pipe(extract);
  for await (const entry of extract) {
    const header = stripPrefix(entry.header, prefix);
    if (header === null) {
      for await (const chunk of entry) void chunk;
      continue;
    }
    await applier.apply(header, entry);
  }
  await applier.finish();
}

/** Packs `root` with packTree and applies it to `target` concurrently, through one tar stream. */
async function transfer(root: string, target: string, opts: PackTreeOptions, applier?: DiffApplier) {
  const pack = tar.pack();
  const packing = packAndFinalize(pack, root, 'rootfs/', opts);
  const [stats] = await Promise.all([
    packing,
    applyTar(pack, 'rootfs/', applier ?? new DiffApplier(target, { overlay: opts.overlay })),
  ]);
  return stats;
}

interface HandEntry {
  header: EntryHeader;
  body?: string | Buffer;
}

/** A hand-built (possibly hostile) tar stream. */
function handPack(entries: HandEntry[]): tar.Pack {
  const pack = tar.pack();
  for (const { header, body } of entries) {
    if (body === undefined) pack.entry(header);
    else pack.entry(header, body);
  }
  pack.finalize();
  return pack;
}

async function expectRefused(entries: HandEntry[], opts: { overlay: boolean; maxBytes?: number; maxEntries?: number }, reason: RegExp) {
  const applier = new DiffApplier(merged, opts);
  const err = await applyTar(handPack(entries), '', applier).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnsafeEntryError);
  expect((err as Error).message).toMatch(reason);
}

function header(name: string, type: EntryHeader['type'], extra: Partial<EntryHeader> = {}): EntryHeader {
  return { name, type, mode: 0o644, uid: 0, gid: 0, mtime: new Date(1_600_000_000_000), ...extra };
}

const exists = (p: string): boolean => fs.existsSync(p) || fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;

describe('stripPrefix', () => {
  it('selects and strips entries of one tree', () => {
    expect(stripPrefix({ name: 'vol/a' }, 'rootfs/')).toBeNull();
    expect(stripPrefix({ name: 'rootfs/a/b', type: 'file' }, 'rootfs/')).toMatchObject({ name: 'a/b' });
    expect(stripPrefix({ name: 'rootfs/.', type: 'directory' }, 'rootfs/')).toMatchObject({ name: '.' });
    expect(stripPrefix({ name: 'rootfs/', type: 'directory' }, 'rootfs/')).toMatchObject({ name: '.' });
    expect(stripPrefix({ name: 'rootfs/h', type: 'link', linkname: 'rootfs/f' }, 'rootfs/')).toMatchObject({ name: 'h', linkname: 'f' });
    // Symlink targets are data, not paths of the stream.
    expect(stripPrefix({ name: 'rootfs/s', type: 'symlink', linkname: 'rootfs/f' }, 'rootfs/')).toMatchObject({ linkname: 'rootfs/f' });
  });

  it('refuses a hard link into another tree', () => {
    expect(() => stripPrefix({ name: 'rootfs/h', type: 'link', linkname: 'vol/f' }, 'rootfs/')).toThrow(UnsafeEntryError);
  });
});

describe('DiffApplier round trip', () => {
  it('reproduces a fake overlay upper dir on a fake merged dir', async () => {
    // Base content of the target container, as its image would provide it.
    fs.writeFileSync(path.join(merged, 'keep.txt'), 'keep');
    fs.writeFileSync(path.join(merged, 'gone.txt'), 'to be whited out');
    fs.mkdirSync(path.join(merged, 'gonedir/sub'), { recursive: true });
    fs.writeFileSync(path.join(merged, 'gonedir/sub/f'), 'x');
    fs.mkdirSync(path.join(merged, 'opq/old2'), { recursive: true });
    fs.writeFileSync(path.join(merged, 'opq/old1'), 'old');
    fs.writeFileSync(path.join(merged, 'opq/old2/f'), 'old');
    fs.mkdirSync(path.join(merged, 'etc'));
    fs.writeFileSync(path.join(merged, 'etc/base.conf'), 'base');
    fs.writeFileSync(path.join(merged, 'replaced.txt'), 'old content');
    fs.linkSync(path.join(merged, 'replaced.txt'), path.join(merged, 'replaced-peer.txt'));
    fs.mkdirSync(path.join(merged, 'dir-becomes-file'));
    fs.writeFileSync(path.join(merged, 'dir-becomes-file/x'), 'x');

    // The source container's upper dir.
    const u = (p: string): string => path.join(upper, p);
    fs.mkdirSync(u('etc'));
    await setXattr(u('etc'), 'trusted.overlay.origin', Buffer.from([0xfb, 0x21]));
    fs.writeFileSync(u('etc/new.conf'), 'hello', { mode: 0o640 });
    fs.chownSync(u('etc/new.conf'), 1000, 1000);
    fs.mkdirSync(u('data'), { mode: 0o750 });
    fs.chmodSync(u('data'), 0o750);
    fs.chownSync(u('data'), 1000, 1000);
    const big = crypto.randomBytes(3 * 1024 * 1024 + 7);
    fs.writeFileSync(u('data/big.bin'), big);
    fs.writeFileSync(u('data/h1'), 'linked');
    fs.linkSync(u('data/h1'), u('data/h2'));
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x3d, 0xc3, 0x28, 0xe2, 0x82]);
    fs.writeFileSync(u('data/x.bin'), 'with xattr');
    await setXattr(u('data/x.bin'), 'user.bin', binary);
    await setXattr(u('data/x.bin'), 'trusted.plain', Buffer.from('t'));
    fs.symlinkSync('etc/new.conf', u('link'));
    const longTarget = `/${'very-long-target-component/'.repeat(8)}end`;
    fs.symlinkSync(longTarget, u('longlink'));
    fs.writeFileSync(u('suid'), '#!/bin/sh\n');
    fs.chownSync(u('suid'), 1000, 1000);
    fs.chmodSync(u('suid'), 0o4755);
    fs.writeFileSync(u('shadow'), 'secret');
    fs.chmodSync(u('shadow'), 0);
    fs.writeFileSync(u('bigid'), '');
    fs.chownSync(u('bigid'), 300000, 300001);
    fs.mkdirSync(u('sticky'));
    fs.chmodSync(u('sticky'), 0o1777);
    await runCommand('mkfifo', [u('fifo')]);
    fs.chmodSync(u('fifo'), 0o620);
    fs.chownSync(u('fifo'), 1000, 1001);
    await runCommand('mknod', [u('gone.txt'), 'c', '0', '0']);
    await runCommand('mknod', [u('gonedir'), 'c', '0', '0']);
    fs.mkdirSync(u('opq'));
    await setXattr(u('opq'), 'trusted.overlay.opaque', Buffer.from('y'));
    fs.writeFileSync(u('opq/new.txt'), 'new');
    fs.writeFileSync(u('replaced.txt'), 'new content');
    fs.writeFileSync(u('dir-becomes-file'), 'now a file');
    fs.mkdirSync(u('excluded/deep'), { recursive: true });
    fs.writeFileSync(u('excluded/deep/secret'), 'do not send');
    const longDir = `${'d'.repeat(90)}/${'é'.repeat(40)}`;
    fs.mkdirSync(u(longDir), { recursive: true });
    fs.writeFileSync(u(`${longDir}/ünïcødé-${'n'.repeat(80)}.txt`), 'long');
    fs.linkSync(u(`${longDir}/ünïcødé-${'n'.repeat(80)}.txt`), u('zz-long-hardlink'));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(u('data/sock'), resolve));
    const oldTime = new Date('2001-02-03T04:05:06Z');
    fs.utimesSync(u('etc/new.conf'), oldTime, oldTime);
    fs.lutimesSync(u('link'), oldTime, oldTime);
    fs.utimesSync(u('data'), oldTime, oldTime); // last, after its children were created

    let stats;
    try {
      stats = await transfer(upper, merged, { overlay: true, exclude: ['excluded'] });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    const m = (p: string): string => path.join(merged, p);
    const st = (p: string): fs.Stats => fs.lstatSync(m(p));
    expect(stats.fileBytes).toBe(
      ['hello', 'linked', 'with xattr', '#!/bin/sh\n', 'secret', 'new', 'new content', 'now a file', 'long'].reduce(
        (n, s) => n + Buffer.byteLength(s),
        big.length,
      ),
    );

    // Untouched base content stays; whiteouts removed their paths.
    expect(fs.readFileSync(m('keep.txt'), 'utf8')).toBe('keep');
    expect(fs.readFileSync(m('etc/base.conf'), 'utf8')).toBe('base');
    expect(exists(m('gone.txt'))).toBe(false);
    expect(exists(m('gonedir'))).toBe(false);
    // Opaque dir: the old content is gone.
    expect(fs.readdirSync(m('opq'))).toEqual(['new.txt']);
    // Replaced files were unlinked, not truncated: the hard-linked peer keeps its content.
    expect(fs.readFileSync(m('replaced.txt'), 'utf8')).toBe('new content');
    expect(fs.readFileSync(m('replaced-peer.txt'), 'utf8')).toBe('old content');
    expect(fs.readFileSync(m('dir-becomes-file'), 'utf8')).toBe('now a file');
    expect(exists(m('excluded'))).toBe(false);
    expect(exists(m('data/sock'))).toBe(false);

    expect(fs.readFileSync(m('etc/new.conf'), 'utf8')).toBe('hello');
    expect(st('etc/new.conf').mode & 0o7777).toBe(0o640);
    expect([st('etc/new.conf').uid, st('etc/new.conf').gid]).toEqual([1000, 1000]);
    expect(st('etc/new.conf').mtime.getTime()).toBe(oldTime.getTime());
    expect(st('data').isDirectory()).toBe(true);
    expect(st('data').mode & 0o7777).toBe(0o750);
    expect([st('data').uid, st('data').gid]).toEqual([1000, 1000]);
    expect(st('data').mtime.getTime()).toBe(oldTime.getTime());
    expect(fs.readFileSync(m('data/big.bin')).equals(big)).toBe(true);
    expect(st('data/h1').ino).toBe(st('data/h2').ino);
    expect(st('data/h1').nlink).toBe(2);
    expect(st('zz-long-hardlink').ino).toBe(st(`${longDir}/ünïcødé-${'n'.repeat(80)}.txt`).ino);
    const xattrs = await readTreeXattrs(merged);
    expect(xattrs.get(m('data/x.bin'))).toEqual({ 'user.bin': binary, 'trusted.plain': Buffer.from('t') });
    expect(xattrs.get(m('etc'))).toBeUndefined(); // overlay bookkeeping is not transferred
    expect(xattrs.get(m('opq'))).toBeUndefined(); // the kernel sets opaque itself on a real mount
    expect(fs.readlinkSync(m('link'))).toBe('etc/new.conf');
    expect(st('link').mtime.getTime()).toBe(oldTime.getTime());
    expect(fs.readlinkSync(m('longlink'))).toBe(longTarget);
    expect(st('suid').mode & 0o7777).toBe(0o4755);
    expect(st('suid').uid).toBe(1000);
    expect(st('shadow').mode & 0o7777).toBe(0);
    expect([st('bigid').uid, st('bigid').gid]).toEqual([300000, 300001]);
    expect(st('sticky').mode & 0o7777).toBe(0o1777);
    expect(st('fifo').isFIFO()).toBe(true);
    expect(st('fifo').mode & 0o7777).toBe(0o620);
    expect([st('fifo').uid, st('fifo').gid]).toEqual([1000, 1001]);
    expect(fs.readFileSync(m(`${longDir}/ünïcødé-${'n'.repeat(80)}.txt`), 'utf8')).toBe('long');
  });

  it('carries plain trees (volumes), including the root directory attributes', async () => {
    fs.chmodSync(upper, 0o700);
    fs.chownSync(upper, 999, 999);
    fs.mkdirSync(path.join(upper, 'pgdata'));
    fs.writeFileSync(path.join(upper, 'pgdata/PG_VERSION'), '16\n');
    await transfer(upper, merged, { overlay: false });
    const root = fs.lstatSync(merged);
    expect([root.mode & 0o7777, root.uid, root.gid]).toEqual([0o700, 999, 999]);
    expect(fs.readFileSync(path.join(merged, 'pgdata/PG_VERSION'), 'utf8')).toBe('16\n');
  });
});

describe('DiffApplier refuses hostile entries', () => {
  const overlay = { overlay: true };

  it('refuses absolute and escaping names', async () => {
    await expectRefused([{ header: header(path.join(outside, 'abs'), 'file'), body: 'x' }], overlay, /absolute name/);
    expect(exists(path.join(outside, 'abs'))).toBe(false);
    await expectRefused([{ header: header('../escaped', 'file'), body: 'x' }], overlay, /"\.\." in name/);
    expect(exists(path.join(tmp, 'escaped'))).toBe(false);
    fs.mkdirSync(path.join(merged, 'a'));
    await expectRefused([{ header: header('a/../../escaped', 'file'), body: 'x' }], overlay, /"\.\." in name/);
    expect(exists(path.join(tmp, 'escaped'))).toBe(false);
  });

  it('refuses malformed names', async () => {
    for (const name of ['', 'a\0b', 'a//b', './a', 'a/./b', 'a/']) {
      const applier = new DiffApplier(merged, overlay);
      await expect(applier.apply(header(name, 'file', { size: 0 }), Readable.from([]))).rejects.toThrow(UnsafeEntryError);
    }
    await expectRefused([{ header: header('.', 'file'), body: 'x' }], overlay, /root must be a directory/);
  });

  it('never writes through a symlink created by an earlier entry', async () => {
    const unique = `pwned-${crypto.randomUUID()}`;
    await expectRefused(
      [
        { header: header('evil', 'symlink', { linkname: os.tmpdir() }) },
        { header: header(`evil/${unique}`, 'file'), body: 'x' },
      ],
      overlay,
      /"evil" on the path is not a directory/,
    );
    expect(exists(path.join(os.tmpdir(), unique))).toBe(false);
    expect(fs.readlinkSync(path.join(merged, 'evil'))).toBe(os.tmpdir()); // symlinks themselves are fine
  });

  it('never writes through a directory later replaced by a symlink', async () => {
    await expectRefused(
      [
        { header: header('d', 'directory', { mode: 0o755 }) },
        { header: header('d/ok', 'file'), body: 'ok' },
        { header: header('d', 'symlink', { linkname: outside }) },
        { header: header('d/x', 'file'), body: 'x' },
      ],
      overlay,
      /"d" on the path is not a directory/,
    );
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('never writes through a symlink already present in the image', async () => {
    fs.mkdirSync(path.join(merged, 'usr'));
    fs.symlinkSync(outside, path.join(merged, 'usr/lib'));
    await expectRefused([{ header: header('usr/lib/x', 'file'), body: 'x' }], overlay, /"usr\/lib" on the path/);
    await expectRefused([{ header: header('usr/lib/d', 'directory') }], overlay, /"usr\/lib" on the path/);
    await expectRefused([{ header: header('usr/lib/w', 'character-device') }], overlay, /"usr\/lib" on the path/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('replaces a symlink at the target path instead of writing through it', async () => {
    fs.writeFileSync(path.join(outside, 'target'), 'outside');
    fs.symlinkSync(path.join(outside, 'target'), path.join(merged, 'f'));
    await new DiffApplier(merged, overlay).apply(header('f', 'file', { size: 3 }), Readable.from([Buffer.from('new')]));
    expect(fs.readFileSync(path.join(outside, 'target'), 'utf8')).toBe('outside');
    expect(fs.lstatSync(path.join(merged, 'f')).isFile()).toBe(true);
  });

  it('refuses hard links that leave the root or do not target a regular file', async () => {
    const passwdLinks = fs.statSync('/etc/passwd').nlink;
    await expectRefused([{ header: header('h', 'link', { linkname: '../../etc/passwd' }) }], overlay, /"\.\." in hard link target/);
    await expectRefused([{ header: header('h', 'link', { linkname: '/etc/passwd' }) }], overlay, /absolute hard link target/);
    await expectRefused(
      [
        { header: header('etc', 'symlink', { linkname: '/etc' }) },
        { header: header('h', 'link', { linkname: 'etc/passwd' }) },
      ],
      overlay,
      /"etc" on the path is not a directory/,
    );
    await expectRefused(
      [
        { header: header('s', 'symlink', { linkname: '/etc/passwd' }) },
        { header: header('h', 'link', { linkname: 's' }) },
      ],
      overlay,
      /not an existing regular file/,
    );
    await expectRefused([{ header: header('h', 'link', { linkname: 'missing' }) }], overlay, /not an existing regular file/);
    expect(fs.statSync('/etc/passwd').nlink).toBe(passwdLinks);
  });

  it('refuses device nodes other than overlay whiteouts, and other entry types', async () => {
    await expectRefused([{ header: header('sda', 'block-device', { devmajor: 8, devminor: 0 }) }], overlay, /block device/);
    await expectRefused([{ header: header('null', 'character-device', { devmajor: 1, devminor: 3 }) }], overlay, /device node 1:3/);
    await expectRefused([{ header: header('c', 'contiguous-file'), body: 'x' }], overlay, /not supported/);
    expect(fs.readdirSync(merged)).toEqual([]);
  });

  it('refuses whiteouts, opaque dirs and overlay xattrs in plain mode, and drops overlay xattrs in overlay mode', async () => {
    fs.writeFileSync(path.join(merged, 'keep'), 'x');
    const plain = { overlay: false };
    await expectRefused([{ header: header('keep', 'character-device', { devmajor: 0, devminor: 0 }) }], plain, /refused in a plain tree/);
    expect(exists(path.join(merged, 'keep'))).toBe(true);
    const opaque = { 'SCHILY.xattr.trusted.overlay.opaque': 'y' };
    await expectRefused([{ header: header('o', 'directory', { pax: opaque }) }], plain, /opaque directories are refused/);

    const redirect = { 'SCHILY.xattr.trusted.overlay.redirect': '/etc', 'SCHILY.xattr.user.ok': 'v' };
    await applyTar(handPack([{ header: header('r', 'directory', { pax: redirect }) }]), '', new DiffApplier(merged, overlay));
    expect((await readTreeXattrs(merged)).get(path.join(merged, 'r'))).toEqual({ 'user.ok': Buffer.from('v') });
  });

  it('refuses bad xattrs and ids', async () => {
    await expectRefused([{ header: header('f', 'file', { pax: { 'SCHILY.xattr.bogus': 'v' } }), body: '' }], overlay, /invalid xattr name/);
    await expectRefused([{ header: header('f', 'file', { pax: { 'SCHILY.xattr.user.x': 'Ā' } }), body: '' }], overlay, /invalid encoded value/);
    await expectRefused([{ header: header('f', 'file', { pax: { uid: '-1' } }), body: '' }], overlay, /invalid uid/);
    await expectRefused([{ header: header('f', 'file', { pax: { gid: '4294967295' } }), body: '' }], overlay, /invalid gid/);
  });

  it('bounds the total bytes', async () => {
    await expectRefused([{ header: header('big', 'file'), body: Buffer.alloc(2000) }], { overlay: true, maxBytes: 1000 }, /exceeds the remaining byte budget/);
    expect(exists(path.join(merged, 'big'))).toBe(false);
    await expectRefused(
      [
        { header: header('one', 'file'), body: Buffer.alloc(600) },
        { header: header('two', 'file'), body: Buffer.alloc(600) },
      ],
      { overlay: true, maxBytes: 1000 },
      /two.*exceeds the remaining byte budget/,
    );
    expect(fs.statSync(path.join(merged, 'one')).size).toBe(600);
    expect(exists(path.join(merged, 'two'))).toBe(false);
  });

  it('counts bytes while streaming, whatever the header claims', async () => {
    const applier = new DiffApplier(merged, { overlay: true, maxBytes: 1000 });
    const body = Readable.from([Buffer.alloc(800), Buffer.alloc(800)]);
    await expect(applier.apply(header('f', 'file', { size: 900 }), body)).rejects.toThrow(/more than 1000 bytes/);
    const short = new DiffApplier(merged, overlay);
    await expect(short.apply(header('g', 'file', { size: 10 }), Readable.from([Buffer.alloc(4)]))).rejects.toThrow(/truncated/);
  });

  it('bounds the number of entries', async () => {
    const dirs = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ header: header(name, 'directory', { mode: 0o755 }) }));
    await expectRefused(dirs, { overlay: true, maxEntries: 3 }, /"d".*more than 3 entries/);
    expect(fs.readdirSync(merged).sort()).toEqual(['a', 'b', 'c']);
  });
});

/** A real overlay mount when the environment allows it (root with mount rights). */
async function mountOverlay(lower: string, up: string, work: string, mnt: string): Promise<void> {
  const opts = `lowerdir=${lower},upperdir=${up},workdir=${work},redirect_dir=off,metacopy=off,index=off`;
  await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', opts, mnt]);
}

interface Snapshot {
  [rel: string]: string;
}

/** Everything the container would observe about a tree, as comparable strings. */
async function snapshot(root: string): Promise<Snapshot> {
  const xattrs = await readTreeXattrs(root);
  const out: Snapshot = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    const abs = rel === '.' ? root : path.join(root, rel);
    const st = fs.lstatSync(abs);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid}`;
    if (!st.isDirectory()) what += ` mtime=${Math.floor(st.mtimeMs / 1000)}`;
    if (st.isFile()) {
      what += ` ${crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex')}`;
      if (st.nlink > 1) {
        what += ` link-group=${inodes.get(st.ino) ?? rel}`;
        if (!inodes.has(st.ino)) inodes.set(st.ino, rel);
      }
    }
    if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(abs)}`;
    const user = Object.entries(xattrs.get(abs) ?? {}).filter(([k]) => k.startsWith('user.'));
    if (user.length > 0) what += ` ${JSON.stringify(user.map(([k, v]) => [k, v.toString('hex')]))}`;
    out[rel] = what;
    if (st.isDirectory()) for (const name of fs.readdirSync(abs).sort()) walk(rel === '.' ? name : `${rel}/${name}`);
  };
  walk('.');
  return out;
}

describe('DiffApplier through a real overlay mount', () => {
  const mounts: string[] = [];

  afterEach(async () => {
    for (const mnt of mounts.splice(0)) await runCommand('umount', [mnt]);
  });

  it('reproduces the merged view of the source container', async () => {
    const dirs = ['lower', 'up1', 'work1', 'm1', 'up2', 'work2', 'm2'].map((d) => path.join(tmp, d));
    for (const d of dirs) fs.mkdirSync(d);
    const [lower, up1, work1, m1, up2, work2, m2] = dirs;
    // Image content.
    fs.mkdirSync(path.join(lower, 'etc/conf.d'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'etc/conf.d/a'), 'a');
    fs.writeFileSync(path.join(lower, 'etc/passwd'), 'root:x:0:0');
    fs.mkdirSync(path.join(lower, 'var/cache/old'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'var/cache/old/f'), 'old');
    fs.writeFileSync(path.join(lower, 'var/cache/keep'), 'old');
    fs.mkdirSync(path.join(lower, 'opt/app'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'opt/app/bin'), 'bin');

    // The product needs overlayfs (Docker's overlay2): a host without it fails here, loudly.
    await mountOverlay(lower, up1, work1, m1);
    mounts.push(m1);
    await mountOverlay(lower, up2, work2, m2);
    mounts.push(m2);

    // What the source container did while running.
    fs.appendFileSync(path.join(m1, 'etc/passwd'), '\napp:x:1000:1000');
    fs.rmSync(path.join(m1, 'etc/conf.d/a'));
    fs.writeFileSync(path.join(m1, 'etc/conf.d/b'), 'b');
    fs.rmSync(path.join(m1, 'var/cache'), { recursive: true });
    fs.mkdirSync(path.join(m1, 'var/cache')); // becomes opaque
    fs.writeFileSync(path.join(m1, 'var/cache/new'), 'new');
    fs.chownSync(path.join(m1, 'opt/app/bin'), 1000, 1000);
    fs.chmodSync(path.join(m1, 'opt/app'), 0o700);
    fs.mkdirSync(path.join(m1, 'data'));
    fs.writeFileSync(path.join(m1, 'data/h1'), 'hard');
    fs.linkSync(path.join(m1, 'data/h1'), path.join(m1, 'data/h2'));
    fs.symlinkSync('../etc/passwd', path.join(m1, 'data/pw'));
    await setXattr(path.join(m1, 'data/h1'), 'user.tag', Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef]));
    await runCommand('mkfifo', [path.join(m1, 'data/pipe')]);

    await transfer(up1, m2, { overlay: true });

    expect(await snapshot(m2)).toEqual(await snapshot(m1));
    expect(fs.readdirSync(path.join(m2, 'var/cache'))).toEqual(['new']);
    expect(fs.existsSync(path.join(m2, 'etc/conf.d/a'))).toBe(false);
    // The writes went through the mount: the target's upper dir now records the same changes.
    expect(fs.lstatSync(path.join(up2, 'etc/conf.d/a')).isCharacterDevice()).toBe(true);
    expect((await readTreeXattrs(up2)).get(path.join(up2, 'var/cache'))).toMatchObject({
      'trusted.overlay.opaque': Buffer.from('y'),
    });
  });
});
