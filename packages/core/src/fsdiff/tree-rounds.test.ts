// A tree sent in rounds while it changes (volumes and upper dirs before the freeze): after the
// last round the destination's copy is the source tree, exactly, and each round carried only
// what changed since the one before.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCommand } from '../util/exec';
import { DiffApplier, stripPrefix } from './diff-applier';
import { BLOCK_FORM_MIN, blockDigests, DIGEST_BLOCK, NATIVE_DIGESTS_FROM } from './file-blocks';

const PIECE = 1024 * 1024;
import { SentTree } from './sent-tree';
import { DELTA_PAX } from './tar-format';
import { packTree, type PackStats } from './upper-dir-pack';
import { readTreeXattrs, setXattr } from './xattrs';

/** Everything about a tree that must arrive: per path its type, content, mode, owner, mtime, xattrs, link target, and which paths share an inode. */
async function treeDigest(root: string): Promise<Record<string, string>> {
  const xattrs = await readTreeXattrs(root);
  const out: Record<string, string> = {};
  const inodes = new Map<number, string>();
  const walk = (rel: string): void => {
    const abs = rel === '.' ? root : path.join(root, rel);
    const st = fs.lstatSync(abs);
    const x = Object.entries(xattrs.get(abs) ?? {}).map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
    let what = `${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${x}`;
    if (st.isFile()) {
      what += ` ${st.size} ${crypto.hash('sha256', fs.readFileSync(abs), 'hex')} ${Math.floor(st.mtimeMs / 1000)}`;
      if (st.nlink > 1) {
        const first = inodes.get(st.ino) ?? rel;
        inodes.set(st.ino, first);
        what += ` linked-with ${first}`;
      }
    } else if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(abs)} ${Math.floor(st.mtimeMs / 1000)}`;
    else if (st.isDirectory() && rel !== '.') what += ` ${Math.floor(st.mtimeMs / 1000)}`;
    out[rel] = what;
    if (st.isDirectory()) for (const n of fs.readdirSync(abs).sort()) walk(rel === '.' ? n : `${rel}/${n}`);
  };
  walk('.');
  return out;
}

describe('a tree sent in rounds', () => {
  let dir: string;
  let src: string;
  let dst: string;
  const s = (p: string): string => path.join(src, p);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fsdiff-rounds-'));
    src = path.join(dir, 'src');
    dst = path.join(dir, 'dst');
    fs.mkdirSync(src);
    fs.mkdirSync(dst);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** One round: pack what changed, apply it; returns its stats and the entries' names and pax keys. */
  async function round(sent: SentTree, applier: DiffApplier, live = true): Promise<PackStats & { names: string[] }> {
    const pack = tar.pack();
    const extract = tar.extract();
    pack.pipe(extract);
    const names: string[] = [];
    // As the disk rounds do: after the first round, the xattrs of the changed paths only.
    const xattrs = sent.size > 0 ? 'changed' : undefined;
    const packing = packTree(pack, src, 'volumes/v/', { overlay: false, sent, live, xattrs }).then((st) => {
      pack.finalize();
      return st;
    });
    for await (const e of extract) {
      names.push(`${e.header.name}${Object.keys(e.header.pax ?? {}).filter((k) => k.startsWith('LIVEMIG.')).map((k) => ` ${k}`).join('')}`);
      await applier.apply(stripPrefix(e.header, 'volumes/v/') ?? e.header, e);
    }
    return { ...(await packing), names };
  }

  it('ends up identical after creates, appends, rewrites, truncation, deletes, renames, links, chmod/chown and xattrs between rounds', async () => {
    fs.mkdirSync(s('d/e'), { recursive: true });
    fs.writeFileSync(s('small'), 'v1');
    fs.writeFileSync(s('appended'), 'line\n');
    fs.writeFileSync(s('d/to-delete'), 'x');
    fs.writeFileSync(s('d/e/to-rename'), 'renamed content');
    fs.mkdirSync(s('dir-to-delete/sub'), { recursive: true });
    fs.writeFileSync(s('dir-to-delete/sub/f'), 'f');
    const big = crypto.randomBytes(3 * BLOCK_FORM_MIN + 123);
    fs.writeFileSync(s('big'), big);
    fs.writeFileSync(s('becomes-dir'), 'file first');
    fs.symlinkSync('small', s('link'));
    await setXattr(s('big'), 'user.gone', Buffer.from('removed between rounds'));
    await setXattr(s('d'), 'user.gone', Buffer.from('removed between rounds'));
    await setXattr(s('d'), 'user.stays', Buffer.from('kept'));
    const sent = new SentTree();
    const applier = new DiffApplier(dst, { overlay: false });
    const first = await round(sent, applier);
    expect(first.fileBytes).toBe(2 + 5 + 1 + 15 + 1 + big.length + 10);

    // Between rounds, as a running application would.
    await new Promise((r) => setTimeout(r, 150)); // past the racy window of the first round
    fs.writeFileSync(s('small'), 'v2-longer');
    fs.appendFileSync(s('appended'), 'more\n');
    fs.rmSync(s('d/to-delete'));
    fs.renameSync(s('d/e/to-rename'), s('renamed'));
    fs.rmSync(s('dir-to-delete'), { recursive: true });
    const fd = fs.openSync(s('big'), 'r+');
    const patch = crypto.randomBytes(100);
    fs.writeSync(fd, patch, 0, patch.length, BLOCK_FORM_MIN + 5); // the middle of one block
    fs.closeSync(fd);
    fs.rmSync(s('becomes-dir'));
    fs.mkdirSync(s('becomes-dir'));
    fs.writeFileSync(s('becomes-dir/inside'), 'in');
    fs.linkSync(s('renamed'), s('hardlink'));
    fs.chmodSync(s('appended'), 0o600);
    fs.chownSync(s('small'), 1000, 1001);
    await setXattr(s('appended'), 'user.tag', Buffer.from('tagged'));
    // Removed from a file that goes as blocks (kept in place there) and from a kept directory.
    await runCommand('setfattr', ['-x', 'user.gone', s('big')]);
    await runCommand('setfattr', ['-x', 'user.gone', s('d')]);
    fs.writeFileSync(s('new'), 'new file');
    const second = await round(sent, applier);
    // The big file: one changed block, not the file.
    expect(second.names.filter((n) => n.startsWith('volumes/v/big'))).toEqual([`volumes/v/big ${DELTA_PAX.offset}`, `volumes/v/big ${DELTA_PAX.size}`]);
    expect(second.fileBytes).toBeLessThan(2 * DIGEST_BLOCK + 100);
    expect(second.deleted).toBe(4); // d/to-delete, d/e/to-rename, dir-to-delete, becomes-dir (a file then)

    // The frozen round: truncation, and a block at the end.
    fs.truncateSync(s('big'), 2 * BLOCK_FORM_MIN + 10);
    fs.appendFileSync(s('big'), crypto.randomBytes(10));
    const last = await round(sent, applier, false);
    expect(last.names.filter((n) => n.startsWith('volumes/v/big'))).toEqual([`volumes/v/big ${DELTA_PAX.offset}`, `volumes/v/big ${DELTA_PAX.size}`]);
    await applier.finish();
    expect(await treeDigest(dst)).toEqual(await treeDigest(src));

    // Nothing changed since: nothing goes but the multiply-linked file (every round: see packPath).
    const idle = await round(sent, applier, false);
    expect(idle.fileBytes).toBe('renamed content'.length);
    expect(idle.deleted).toBe(0);
  });

  it('sends only the changed blocks of a large file sent before, digested by the native helper', async () => {
    const size = NATIVE_DIGESTS_FROM + 3 * 1024 * 1024 + 77;
    fs.writeFileSync(s('db'), crypto.randomBytes(size));
    const sent = new SentTree();
    const applier = new DiffApplier(dst, { overlay: false });
    expect((await round(sent, applier)).fileBytes).toBe(size);

    await new Promise((r) => setTimeout(r, 150)); // past the racy window of the first round
    const fd = fs.openSync(s('db'), 'r+');
    const write = (at: number, n: number): void => void fs.writeSync(fd, crypto.randomBytes(n), 0, n, at);
    write(5, 10); // the first block
    write(3 * DIGEST_BLOCK + 100, DIGEST_BLOCK); // across two blocks
    write(PIECE - DIGEST_BLOCK, 2 * DIGEST_BLOCK); // a run across the first piece's end
    write(2 * PIECE, 70 * DIGEST_BLOCK); // a run longer than a piece: two entries
    fs.appendFileSync(s('db'), crypto.randomBytes(DIGEST_BLOCK + 3)); // the partial last block grows, one more
    const second = await round(sent, applier);
    const entries = second.names.filter((n) => n.startsWith('volumes/v/db'));
    // Runs: block 0; 3-4; 63-64; 128-191 and 192-197 (a piece at most); the old partial last block
    // (now whole) and the new one of 80 bytes; then the size.
    expect(entries).toHaveLength(6 + 1);
    expect(second.fileBytes).toBe((1 + 2 + 2 + 70 + 1) * DIGEST_BLOCK + 80);

    // Frozen: the file cut in the middle of a block (that block goes again, 1000 bytes long).
    fs.ftruncateSync(fd, 10 * PIECE + 1000);
    fs.closeSync(fd);
    const last = await round(sent, applier, false);
    expect(last.names.filter((n) => n.startsWith('volumes/v/db'))).toEqual([`volumes/v/db ${DELTA_PAX.offset}`, `volumes/v/db ${DELTA_PAX.size}`]);
    expect(last.fileBytes).toBe(1000);
    await applier.finish();
    expect(await treeDigest(dst)).toEqual(await treeDigest(src));
  }, 60_000);

  it('has the native helper digest a file as the agent does: holes, a partial last block, a file shorter than asked', async () => {
    const f = s('holes');
    const data = crypto.randomBytes(3 * PIECE + 5);
    fs.writeFileSync(f, data);
    fs.truncateSync(f, 7 * PIECE + 123); // a hole of 4 MiB and more at the end
    await runCommand('fallocate', ['-p', '-o', String(PIECE), '-l', String(PIECE), f]); // and one in the middle
    const whole = fs.readFileSync(f);
    const { h64Raw } = await (await import('xxhash-wasm')).default();
    const expected = (upTo: number): bigint[] => Array.from({ length: Math.ceil(upTo / DIGEST_BLOCK) }, (_, i) => h64Raw(whole.subarray(i * DIGEST_BLOCK, Math.min(upTo, (i + 1) * DIGEST_BLOCK))));
    const got = async (size: number): Promise<{ digests: bigint[]; covered: number }> => {
      const fd = fs.openSync(f, 'r');
      try {
        const r = await blockDigests(fd, size);
        return { digests: Array.from({ length: r.digests.length / 8 }, (_, i) => r.digests.readBigUInt64LE(i * 8)), covered: r.covered };
      } finally {
        fs.closeSync(fd);
      }
    };
    expect(await got(whole.length)).toEqual({ digests: expected(whole.length), covered: whole.length });
    expect(await got(2 * PIECE + 3)).toEqual({ digests: expected(2 * PIECE + 3), covered: 2 * PIECE + 3 });
    expect(await got(whole.length + 99999)).toEqual({ digests: expected(whole.length), covered: whole.length });
    expect(await got(0)).toEqual({ digests: [], covered: 0 });
  });

  it('sends a sparse file as its data, and keeps its holes', async () => {
    const f = s('sparse');
    const fd = fs.openSync(f, 'w');
    const data = crypto.randomBytes(1024 * 1024);
    fs.writeSync(fd, data, 0, data.length, 5 * 1024 ** 3); // 5 GiB in
    fs.ftruncateSync(fd, 10 * 1024 ** 3);
    fs.closeSync(fd);
    const applier = new DiffApplier(dst, { overlay: false });
    const sent = new SentTree();
    const r = await round(sent, applier, false);
    expect(r.fileBytes).toBe(data.length);
    const st = fs.statSync(path.join(dst, 'sparse'));
    expect(st.size).toBe(10 * 1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(16 * 1024 * 1024); // holes stay holes
    const back = Buffer.alloc(data.length);
    const rd = fs.openSync(path.join(dst, 'sparse'), 'r');
    fs.readSync(rd, back, 0, back.length, 5 * 1024 ** 3);
    fs.closeSync(rd);
    expect(back.equals(data)).toBe(true);

    // The next round: data written into a hole, and the old data punched out (now a hole that
    // the destination must see as zeros).
    const more = crypto.randomBytes(64 * 1024);
    const wr = fs.openSync(f, 'r+');
    fs.writeSync(wr, more, 0, more.length, 1024 ** 3);
    fs.closeSync(wr);
    await runCommand('fallocate', ['-p', '-o', String(5 * 1024 ** 3), '-l', String(data.length), f]);
    await new Promise((resolve) => setTimeout(resolve, 150)); // past the racy window of the first round
    const r2 = await round(sent, applier, false);
    await applier.finish();
    // The new data, and zeros where the destination held the old data (a hole needs no bytes
    // only where the destination has none).
    expect(r2.fileBytes).toBe(more.length + data.length);
    const again = fs.openSync(path.join(dst, 'sparse'), 'r');
    const got = Buffer.alloc(more.length);
    fs.readSync(again, got, 0, got.length, 1024 ** 3);
    fs.readSync(again, back, 0, back.length, 5 * 1024 ** 3);
    fs.closeSync(again);
    expect(got.equals(more)).toBe(true);
    expect(back.equals(Buffer.alloc(data.length))).toBe(true);
  }, 60_000);

  it('refuses updates of a file the stream never made, and offsets past the budget', async () => {
    fs.writeFileSync(path.join(dst, 'in-image'), 'from the image');
    const applier = new DiffApplier(dst, { overlay: false, maxBytes: 1 << 20 });
    const body = (b: Buffer): AsyncIterable<Buffer> & { resume(): void } => Object.assign((async function* () { yield b; })(), { resume: () => undefined });
    const at = (name: string, offset: string, size: number): Promise<void> =>
      applier.apply({ name, type: 'file', size, mode: 0o600, uid: 0, gid: 0, mtime: new Date(), pax: { [DELTA_PAX.offset]: offset } }, body(Buffer.alloc(size)));
    await expect(at('in-image', '0', 4)).rejects.toThrow(/never sent/);
    await expect(at('nowhere', '0', 4)).rejects.toThrow(/never sent/);
    await applier.apply({ name: 'made', type: 'file', size: 0, mode: 0o600, pax: { [DELTA_PAX.start]: '1' } }, body(Buffer.alloc(0)));
    await expect(at('made', String(1 << 20), 4)).rejects.toThrow(/not a number within/);
    await expect(at('made', '-1', 4)).rejects.toThrow(/not a number within/);
    await at('made', '8', 4);
    expect(fs.statSync(path.join(dst, 'made')).size).toBe(12);
    expect(fs.readFileSync(path.join(dst, 'in-image'), 'utf8')).toBe('from the image');
    await expect(applier.apply({ name: 'made', type: 'file', size: 0, mode: 0o600, pax: { [DELTA_PAX.start]: '1', [DELTA_PAX.delete]: '1' } }, body(Buffer.alloc(0))))
      .rejects.toThrow(/more than one/);
    await expect(applier.apply({ name: '.', type: 'file', size: 0, mode: 0o600, pax: { [DELTA_PAX.delete]: '1' } }, body(Buffer.alloc(0))))
      .rejects.toThrow(/tree root/);
  });

  it('in an overlay tree, keeps what earlier rounds put in an opaque directory and honours whiteouts that come later', async () => {
    const merged = dst;
    fs.mkdirSync(path.join(merged, 'opq'));
    fs.writeFileSync(path.join(merged, 'opq/from-image'), 'old');
    fs.writeFileSync(path.join(merged, 'later-gone'), 'image file');
    fs.mkdirSync(s('opq'));
    await setXattr(s('opq'), 'trusted.overlay.opaque', Buffer.from('y'));
    fs.writeFileSync(s('opq/a'), 'a');
    const sent = new SentTree();
    const applier = new DiffApplier(merged, { overlay: true });
    const pass = async (live: boolean): Promise<void> => {
      const pack = tar.pack();
      const extract = tar.extract();
      pack.pipe(extract);
      const xattrs = sent.size > 0 ? 'changed' : undefined; // the opaque dir's xattr read again with its changed entry
      const packing = packTree(pack, src, 'rootfs/', { overlay: true, sent, live, xattrs }).then(() => pack.finalize());
      for await (const e of extract) await applier.apply(stripPrefix(e.header, 'rootfs/') ?? e.header, e);
      await packing;
    };
    await pass(true);
    expect(fs.readdirSync(path.join(merged, 'opq'))).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 150));
    fs.writeFileSync(s('opq/b'), 'b'); // the directory changes: its entry goes again
    await runCommand('mknod', [s('later-gone'), 'c', '0', '0']);
    await pass(false);
    await applier.finish();
    expect(fs.readdirSync(path.join(merged, 'opq')).sort()).toEqual(['a', 'b']);
    expect(fs.existsSync(path.join(merged, 'later-gone'))).toBe(false);
  });
});
