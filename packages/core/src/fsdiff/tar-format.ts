import type * as tar from 'tar-stream';

/** Conventions shared by the packer and the applier. */

/** A tar entry header as tar-stream's pack() takes it; its extract() yields complete ones. */
export type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

/** An entry body: tar-stream's (streamx) entry stream, or any Node readable. */
export type EntryBody = AsyncIterable<unknown> & { resume(): unknown };

/** Pax key prefix for xattrs (the GNU tar / star convention). */
export const XATTR_PAX_PREFIX = 'SCHILY.xattr.';

export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
export const OPAQUE_PAX_KEY = XATTR_PAX_PREFIX + OPAQUE_XATTR;

/**
 * Pax records of the entries that update a tree in place (rounds sent while it is in use,
 * sent-tree.ts; files sent in blocks, file-blocks.ts). Each goes on an entry of type file with
 * the path's name.
 */
export const DELTA_PAX = {
  /** The path is gone: remove it (a directory with what is below it). Size 0. */
  delete: 'LIVEMIG.delete',
  /** A new empty file, to be filled by the entries that follow (offset, then size). Size 0. */
  start: 'LIVEMIG.start',
  /** The body goes at this byte offset of a file made by this tree's stream. */
  offset: 'LIVEMIG.offset',
  /** The last entry of a file sent in blocks: its size, mode, owner, xattrs and mtime. Size 0. */
  size: 'LIVEMIG.size',
} as const;

/** Largest uid/gid the 7-byte ustar octal field holds; bigger ids travel as pax uid/gid. */
export const MAX_USTAR_ID = 0o777777;

/**
 * Pax values are strings that tar-stream writes as UTF-8; mapping each byte to one
 * char (latin1) makes any binary xattr value survive the round trip.
 */
export function xattrToPax(value: Buffer): string {
  return value.toString('latin1');
}

/** Inverse of xattrToPax; null when the string holds chars that are not single bytes. */
export function xattrFromPax(value: string): Buffer | null {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0xff) return null;
  }
  return Buffer.from(value, 'latin1');
}

/** Runs `apply` for an entry; if it fails, the entry's body is resumed (so the tar parser never waits on an unread body). */
export async function resumingOnError(body: EntryBody, apply: () => Promise<void>): Promise<void> {
  try {
    await apply();
  } catch (err) {
    body.resume();
    throw err;
  }
}

/** Writes the entries of one tree from a stream: apply() each in stream order, then finish(). */
export interface TreeApplier {
  apply(header: EntryHeader, body: EntryBody): Promise<void>;
  finish(): Promise<void>;
}
