// What earlier rounds sent of one tree (a volume, or a container's upper dir) while it ran: per
// path, the inode and ctime it had when it was read (a later change of either makes the path go
// again), and for files sent in blocks the digest of every block as the destination now holds it.

/** What kind of entry a path was: a change of kind is a delete and a new entry. */
export type EntryKind = 'dir' | 'file' | 'symlink' | 'fifo' | 'whiteout';

export interface SentEntry {
  ino: bigint;
  /** ctime in ns as read; LOOK_AGAIN when it may have changed unseen (while or just after it was read). */
  ctimeNs: bigint;
  kind: EntryKind;
  /** Files sent in blocks: the digest (BLOCK_DIGEST bytes) of each block the destination holds. */
  digests?: Buffer;
  /** Files sent in blocks: the size the destination's file has. */
  size?: number;
}

/** No ctime matches this: the path is read again in the next round. */
export const LOOK_AGAIN = -1n;

export class SentTree {
  private readonly entries = new Map<string, SentEntry>();
  /** Paths seen by the round under way. */
  private seen = new Set<string>();

  get size(): number {
    return this.entries.size;
  }

  get(rel: string): SentEntry | undefined {
    return this.entries.get(rel);
  }

  /** The files sent in blocks (large ones), with what was sent of them. */
  *inBlocks(): Generator<[string, SentEntry]> {
    for (const [rel, e] of this.entries) if (e.digests !== undefined) yield [rel, e];
  }

  /** A new round: every path it does not see is gone from the tree. */
  startRound(): void {
    this.seen = new Set();
  }

  saw(rel: string): void {
    this.seen.add(rel);
  }

  set(rel: string, e: SentEntry): void {
    this.entries.set(rel, e);
  }

  /** Forgets `rel` and everything below it (it is deleted on the destination). */
  forget(rel: string): void {
    const was = this.entries.get(rel);
    this.entries.delete(rel);
    // Only a directory sent as one has paths below it here: a file replaced between rounds (an
    // atomic rename) costs no scan of the whole tree (10k of them in a tree of 100k: 1e9 steps).
    if (was?.kind !== 'dir') return;
    const under = `${rel}/`;
    for (const k of this.entries.keys()) if (k.startsWith(under)) this.entries.delete(k);
  }

  /**
   * The paths sent before that this round did not see, top-most only (deleting a directory
   * deletes what is below it), forgotten here: the caller deletes them on the destination.
   */
  takeGone(): string[] {
    const gone = [...this.entries.keys()].filter((k) => !this.seen.has(k)).sort();
    const top: string[] = [];
    for (const k of gone) {
      if (top.length > 0 && k.startsWith(`${top[top.length - 1]}/`)) continue;
      top.push(k);
    }
    for (const k of gone) this.entries.delete(k); // everything below a gone path is gone too
    return top;
  }
}
