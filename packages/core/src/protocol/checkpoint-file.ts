// A checkpoint file is the Migrate stream at rest: the requests a source sends (Prepare, then the
// sealed streams: disk rounds, pre-copy, checkpoint) written one after another, behind a
// versioned header and ahead of a digest. Both `checkpoint --out` and `restore` import it from
// here, and only from here.
//
//   magic      "LIVEMIG-CKPT\n" (13 bytes)
//   version    u16 BE: FORMAT_VERSION
//   header     u32 BE length, then that many bytes of JSON (CheckpointHeader)
//   records    each: u32 BE length (1..MAX_RECORD), then one MigrateRequest (protobuf, as on the wire)
//   end        u32 BE 0
//   digest     SHA-256 of every byte before it (32 bytes)
//
// The digest sits at a fixed place (the last 32 bytes), so a reader checks the whole file
// before it acts on any of it, and a truncated file has none that matches.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { MigrateRequest } from '../rpc/messages';
import { MigrationError } from './migration-error';

export const MAGIC = Buffer.from('LIVEMIG-CKPT\n');
/** Bumped whenever the layout above or the header's meaning changes; readers refuse others. */
export const FORMAT_VERSION = 1;
export const DIGEST_BYTES = 32;
/** Largest record: a chunk holds at most 1 MiB of stream (stream/chunk-stream.ts), with room to spare. */
export const MAX_RECORD = 8 * 1024 * 1024;
const MAX_HEADER = 1024 * 1024;

/** What the file says of itself, readable without reading the rest (inspect, the restore's checks). */
export interface CheckpointHeader {
  /** The container's name and image when it was checkpointed. */
  container: string;
  containerId: string;
  image: string;
  imageId: string;
  /** ISO time the checkpoint was taken. */
  created: string;
  host: string;
  criuVersion: string;
  kernel: string;
  /** process.arch of the host that dumped it: CRIU images restore on the same CPU architecture only. */
  arch: string;
  /** The Migrate protocol version of the records. */
  protocolVersion: number;
  compressLevel: number;
  /** The container's processes just before the freeze (host PIDs, command lines). */
  processes: Array<{ pid: number; command: string }>;
}

/** How a record becomes bytes and back (the gRPC serializers of Migrate, so the file is the wire). */
export interface RecordCodec {
  encode(req: MigrateRequest): Buffer;
  decode(buf: Buffer): MigrateRequest;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

/** The bytes from the magic to the header's end. */
export function encodeHeader(h: CheckpointHeader): Buffer {
  const json = Buffer.from(JSON.stringify(h));
  const version = Buffer.allocUnsafe(2);
  version.writeUInt16BE(FORMAT_VERSION);
  return Buffer.concat([MAGIC, version, u32(json.length), json]);
}

/**
 * Writes a checkpoint file: created 0600 and exclusively (an existing file is never overwritten:
 * it may be another checkpoint), written with backpressure, fsynced when finished.
 */
export class CheckpointFileWriter {
  private readonly hash = crypto.createHash('sha256');
  private readonly out: fs.WriteStream;
  private failed: Error | undefined;
  bytes = 0;

  constructor(readonly file: string, private readonly codec: RecordCodec) {
    // 'wx': O_EXCL, so a symlink planted at the path is not followed either.
    const fd = fs.openSync(file, 'wx', 0o600);
    this.out = fs.createWriteStream('', { fd, highWaterMark: 1024 * 1024 });
    this.out.on('error', (err) => (this.failed = err));
  }

  private async write(b: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    this.hash.update(b);
    this.bytes += b.length;
    if (!this.out.write(b)) await new Promise<void>((resolve) => this.out.once('drain', resolve).once('error', () => resolve()));
    if (this.failed) throw this.failed;
  }

  header(h: CheckpointHeader): Promise<void> {
    return this.write(encodeHeader(h));
  }

  async record(req: MigrateRequest): Promise<void> {
    const body = this.codec.encode(req);
    await this.write(Buffer.concat([u32(body.length), body]));
  }

  /** The end mark and the digest; fsynced and closed once this resolves. Returns the digest (hex). */
  async finish(): Promise<string> {
    await this.write(u32(0));
    const digest = this.hash.digest();
    this.bytes += digest.length;
    await new Promise<void>((resolve, reject) => this.out.end(digest, (err?: Error | null) => (err ? reject(err) : resolve())));
    if (this.failed) throw this.failed;
    const fd = fs.openSync(this.file, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    return digest.toString('hex');
  }

  /** Stops writing and removes the partial file. */
  abandon(): void {
    this.out.destroy();
    fs.rmSync(this.file, { force: true });
  }
}

/** Reads a file's bytes in order, feeding each to a hash (the digest is checked while it plays too). */
class ByteReader {
  private buf = Buffer.alloc(0);
  private pos = 0;
  readonly hash = crypto.createHash('sha256');
  offset = 0;

  constructor(private readonly fd: number, private readonly bodyEnd: number) {}

  /** The next `n` bytes; refuses to read into the digest. */
  take(n: number): Buffer {
    if (this.offset + n > this.bodyEnd) throw new MigrationError('precondition', 'the checkpoint file is truncated');
    if (this.buf.length - this.pos < n) {
      const rest = this.buf.subarray(this.pos);
      const more = Buffer.allocUnsafe(Math.max(n - rest.length, Math.min(1024 * 1024, this.bodyEnd - this.offset - rest.length)));
      const got = fs.readSync(this.fd, more, 0, more.length, this.offset + rest.length);
      this.buf = Buffer.concat([rest, more.subarray(0, got)]);
      this.pos = 0;
      if (this.buf.length < n) throw new MigrationError('precondition', 'the checkpoint file is truncated');
    }
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.offset += n;
    this.hash.update(b);
    return b;
  }
}

/** Why a header from another writer cannot be restored here ('' when it can). */
export interface HostFacts {
  arch: string;
  criuVersion: string;
  protocolVersion: number;
}

/** Numeric parts of a version ("4.2.1" -> [4, 2, 1]). */
function versionParts(v: string): number[] {
  return v.split(/[.-]/).map((p) => parseInt(p, 10)).filter((n) => !Number.isNaN(n));
}

function olderThan(a: string, b: string): boolean {
  const x = versionParts(a);
  const y = versionParts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

/**
 * The reason this host cannot restore a checkpoint with header `h`, or ''. A newer kernel is
 * fine (the reboot-into-a-patched-kernel case: CRIU checks the features it needs at restore);
 * another CPU architecture, an older CRIU than the one that wrote the images, or records of
 * another protocol version are not.
 */
export function incompatibility(h: CheckpointHeader, here: HostFacts): string {
  if (h.protocolVersion !== here.protocolVersion) {
    return `its records are Migrate protocol ${h.protocolVersion}; this agent speaks ${here.protocolVersion}`;
  }
  if (h.arch !== here.arch) return `it was dumped on ${h.arch}; this host is ${here.arch}`;
  if (here.criuVersion && olderThan(here.criuVersion, h.criuVersion)) {
    return `it was dumped by CRIU ${h.criuVersion}; this host has the older CRIU ${here.criuVersion}`;
  }
  return '';
}

/** An open checkpoint file: its header read and checked for form, its records to come. */
export class CheckpointFileReader {
  private readonly fd: number;
  private readonly reader: ByteReader;
  readonly header: CheckpointHeader;
  readonly size: number;
  private ended = false;

  constructor(readonly file: string, private readonly codec: RecordCodec) {
    this.fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const st = fs.fstatSync(this.fd);
      if (!st.isFile()) throw new MigrationError('precondition', `${file} is not a regular file`);
      this.size = st.size;
      if (this.size < MAGIC.length + 2 + 4 + 4 + DIGEST_BYTES) throw new MigrationError('precondition', `${file} is too short to be a checkpoint file`);
      this.reader = new ByteReader(this.fd, this.size - DIGEST_BYTES);
      if (!this.reader.take(MAGIC.length).equals(MAGIC)) throw new MigrationError('precondition', `${file} is not a livemig checkpoint file`);
      const version = this.reader.take(2).readUInt16BE();
      if (version !== FORMAT_VERSION) {
        throw new MigrationError('precondition', `${file} is checkpoint format version ${version}; this agent reads version ${FORMAT_VERSION} only`);
      }
      const len = this.reader.take(4).readUInt32BE();
      if (len > MAX_HEADER) throw new MigrationError('precondition', `${file}: header of ${len} bytes is too large`);
      this.header = parseHeader(this.reader.take(len).toString('utf8'), file);
    } catch (err) {
      fs.closeSync(this.fd);
      throw err;
    }
  }

  /** The digest stored at the end (hex). */
  storedDigest(): string {
    const b = Buffer.alloc(DIGEST_BYTES);
    fs.readSync(this.fd, b, 0, DIGEST_BYTES, this.size - DIGEST_BYTES);
    return b.toString('hex');
  }

  /**
   * Reads the whole file once and compares its SHA-256 with the stored digest: the check made
   * before anything is restored from it. Streams (1 MiB at a time).
   */
  verify(): string {
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(1024 * 1024);
    const end = this.size - DIGEST_BYTES;
    for (let off = 0; off < end; ) {
      const got = fs.readSync(this.fd, buf, 0, Math.min(buf.length, end - off), off);
      if (got === 0) throw new MigrationError('precondition', `${this.file} is truncated`);
      hash.update(buf.subarray(0, got));
      off += got;
    }
    const digest = hash.digest('hex');
    const stored = this.storedDigest();
    if (digest !== stored) {
      throw new MigrationError('precondition', `${this.file} is corrupt or truncated: its SHA-256 is ${digest.slice(0, 16)}..., the file says ${stored.slice(0, 16)}...`);
    }
    return digest;
  }

  /** The next record, or null at the end mark (after which the digest of what was read is checked again). */
  next(): MigrateRequest | null {
    if (this.ended) return null;
    const len = this.reader.take(4).readUInt32BE();
    if (len === 0) {
      this.ended = true;
      if (this.reader.offset !== this.size - DIGEST_BYTES) throw new MigrationError('protocol', `${this.file}: bytes after the end mark`);
      // Read again, not the bytes verify() saw: the file must not have changed since.
      if (this.reader.hash.digest('hex') !== this.storedDigest()) throw new MigrationError('protocol', `${this.file} changed while it was restored`);
      return null;
    }
    if (len > MAX_RECORD) throw new MigrationError('protocol', `${this.file}: a record of ${len} bytes (at most ${MAX_RECORD})`);
    try {
      return this.codec.decode(Buffer.from(this.reader.take(len)));
    } catch (err) {
      if (err instanceof MigrationError) throw err;
      throw new MigrationError('protocol', `${this.file}: a record at byte ${this.reader.offset - len} cannot be decoded: ${(err as Error).message}`);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

function parseHeader(text: string, file: string): CheckpointHeader {
  let h: unknown;
  try {
    h = JSON.parse(text);
  } catch {
    throw new MigrationError('precondition', `${file}: the header is not JSON`);
  }
  const o = h as Record<string, unknown>;
  const strings = ['container', 'containerId', 'image', 'imageId', 'created', 'host', 'criuVersion', 'kernel', 'arch'];
  const ok = typeof h === 'object' && h !== null && strings.every((k) => typeof o[k] === 'string') &&
    typeof o.protocolVersion === 'number' && typeof o.compressLevel === 'number' && Array.isArray(o.processes);
  if (!ok) throw new MigrationError('precondition', `${file}: the header lacks fields of format version ${FORMAT_VERSION}`);
  return h as CheckpointHeader;
}
