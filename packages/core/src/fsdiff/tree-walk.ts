// The walk of a tree by the native helper (packages/restore-init/tree-walk.c): each path with
// what tells whether it changed since it was sent (inode, ctime, type, link count). A round after
// the first looks again, with lstat, only at the paths where these differ.
import path from 'node:path';
import { runCommand } from '../util/exec';
import { staticHelper } from './static-helper';

export const TREE_WALK_BIN = staticHelper('tree-walk');

export interface WalkedPath {
  /** Relative to the root ('.' for the root). */
  rel: string;
  ino: bigint;
  ctimeNs: bigint;
  /** st_mode: type and permissions. */
  mode: number;
  nlink: number;
}

const RECORD = 32;

/** The helper's output for `root`: every path under it (root first, depth first, parents before children), those gone meanwhile left out. */
export function walkTree(root: string): Promise<Buffer> {
  return runCommand(TREE_WALK_BIN, [root]);
}

/**
 * The paths of walkTree's output for `root`, one at a time (a tree of 100k paths is not held as
 * objects). Names that are not UTF-8 are refused, as the first round's walk refuses them.
 */
export function* walkedPaths(out: Buffer, root: string): Generator<WalkedPath> {
  let at = 0;
  while (at < out.length) {
    if (at + RECORD > out.length) throw new Error(`tree-walk: a record cut short at byte ${at}`);
    const len = out.readUInt32LE(at + 24);
    const end = at + RECORD + len;
    if (len === 0 || end > out.length) throw new Error(`tree-walk: a path cut short at byte ${at}`);
    const raw = out.subarray(at + RECORD, end);
    const ascii = (out.readUInt32LE(at + 28) & 1) === 0;
    const rel = raw.toString(ascii ? 'latin1' : 'utf8');
    if (!ascii && !Buffer.from(rel, 'utf8').equals(raw)) throw new Error(`file names that are not valid UTF-8 are not supported: ${path.join(root, rel)}`);
    yield {
      rel,
      ino: out.readBigUInt64LE(at),
      ctimeNs: out.readBigInt64LE(at + 8),
      mode: out.readUInt32LE(at + 16),
      nlink: out.readUInt32LE(at + 20),
    };
    at = end;
  }
}
