// The checks every entry from the (possibly hostile) peer goes through before it is applied:
// its name, its ids, its pax records, its body's chunks.
/** Every refusal of an entry from the (possibly hostile) peer. */
export class UnsafeEntryError extends Error {
  constructor(
    readonly entryName: string,
    readonly reason: string,
  ) {
    super(`unsafe tar entry ${JSON.stringify(entryName)}: ${reason}`);
    this.name = 'UnsafeEntryError';
  }
}

export function toBuffer(entryName: string, chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new UnsafeEntryError(entryName, 'entry body yielded a non-binary chunk');
}

/** tar-stream hands pax records over untyped: accept only a plain string → string record. */
export function readPax(entryName: string, pax: unknown): Record<string, string> {
  if (pax === undefined || pax === null) return {};
  if (typeof pax !== 'object') throw new UnsafeEntryError(entryName, 'malformed pax records');
  const records: Record<string, string> = {};
  for (const [key, value] of Object.entries(pax)) {
    if (typeof value !== 'string') throw new UnsafeEntryError(entryName, `malformed pax record ${key}`);
    records[key] = value;
  }
  return records;
}

/** A pax uid/gid (used for ids too big for the ustar field) wins over the header field. */
export function checkId(entryName: string, what: string, headerValue: number | undefined, paxText: string | undefined): number {
  const value = paxText === undefined ? headerValue : /^[0-9]+$/.test(paxText) ? Number(paxText) : NaN;
  // (uid_t)-1 would mean "leave unchanged" to chown.
  if (value === undefined || !Number.isSafeInteger(value) || value < 0 || value >= 0xffffffff) {
    throw new UnsafeEntryError(entryName, `invalid ${what} ${String(paxText ?? headerValue)}`);
  }
  return value;
}

/**
 * A peer-supplied path must be relative, normalized and free of '..' and NUL.
 * Returns it without the trailing '/' tar puts on directories; '.' is the tree root.
 */
export function checkRelPath(entryName: string, value: unknown, what: string, isDirectory: boolean): string {
  if (typeof value !== 'string' || value === '') throw new UnsafeEntryError(entryName, `empty ${what}`);
  if (value.includes('\0')) throw new UnsafeEntryError(entryName, `NUL byte in ${what}`);
  const rel = isDirectory && value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
  if (rel === '.') return rel;
  if (rel.startsWith('/')) throw new UnsafeEntryError(entryName, `absolute ${what}`);
  for (const part of rel.split('/')) {
    if (part === '..') throw new UnsafeEntryError(entryName, `".." in ${what}`);
    if (part === '' || part === '.') throw new UnsafeEntryError(entryName, `${what} is not normalized`);
  }
  return rel;
}
