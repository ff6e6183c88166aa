import path from 'node:path';
import { runCommand } from '../util/exec';

/** Extended attributes of one file: name → raw value bytes. */
export type XattrSet = Record<string, Buffer>;

/**
 * Reads the xattrs of every file under `dir` with a single getfattr process.
 * Returns absolute path → xattrs; files without xattrs are absent.
 * -h/-P: report symlinks' own xattrs and never follow links while walking.
 */
export async function readTreeXattrs(dir: string, live = false): Promise<Map<string, XattrSet>> {
  const root = path.resolve(dir);
  const dump = await runCommand('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], vanishedWhen(live));
  return parseGetfattrDump(dump);
}

/** A tree in use may lose files while getfattr reads it: those are gone, the rest is read. */
function vanishedWhen(live: boolean): (code: number | null, stderr: string) => boolean {
  return (code, stderr) => live && code === 1 && stderr.trim().split('\n').every((l) => /No such file or directory/.test(l));
}

/** At most this many bytes of paths per getfattr run (the kernel's limit on arguments is larger). */
const ARGS_BUDGET = 64 * 1024;

/**
 * Reads the xattrs of the given files (absolute paths) only, never following a symlink: a round
 * that sends a few changed paths of a large tree need not read the whole tree's. Live, a path
 * gone meanwhile is left out.
 */
export async function readXattrsOf(paths: readonly string[], live = false): Promise<Map<string, XattrSet>> {
  const vanished = vanishedWhen(live);
  const out = new Map<string, XattrSet>();
  for (let i = 0; i < paths.length;) {
    const batch: string[] = [];
    for (let bytes = 0; i < paths.length && (batch.length === 0 || bytes + paths[i].length < ARGS_BUDGET); i++) {
      batch.push(paths[i]);
      bytes += paths[i].length + 1;
    }
    const dump = await runCommand('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', '--', ...batch], vanished);
    for (const [k, v] of parseGetfattrDump(dump)) out.set(k, v);
  }
  return out;
}

/** Removes one xattr from `file` without following a symlink there. */
export async function removeXattr(file: string, name: string, opts: { absentOk?: boolean } = {}): Promise<void> {
  const absent = (code: number | null, stderr: string): boolean => opts.absentOk === true && code === 1 && /No such attribute/.test(stderr);
  await runCommand('setfattr', ['-h', '-x', name, file], absent);
}

/** Sets one xattr on `file` without following a symlink there. */
export async function setXattr(file: string, name: string, value: Buffer): Promise<void> {
  // Hex doubles the size; very large values go as base64 to stay under the kernel's per-argument limit.
  const encoded = value.length > 48 * 1024 ? `0s${value.toString('base64')}` : `0x${value.toString('hex')}`;
  await runCommand('setfattr', ['-h', '-n', name, '-v', encoded, file]);
}

const FILE_MARK = Buffer.from('# file: ', 'latin1');

/**
 * Parses `getfattr -d -e hex` output. File and attribute names are raw bytes in which
 * getfattr escapes awkward bytes (newline, backslash, '=') as \ooo octal.
 */
export function parseGetfattrDump(dump: Buffer): Map<string, XattrSet> {
  const result = new Map<string, XattrSet>();
  let current: XattrSet | null = null;
  let start = 0;
  while (start < dump.length) {
    let end = dump.indexOf(0x0a, start);
    if (end === -1) end = dump.length;
    const line = dump.subarray(start, end);
    start = end + 1;
    if (line.length === 0) continue;

    if (line.subarray(0, FILE_MARK.length).equals(FILE_MARK)) {
      const file = unescapeOctal(line.subarray(FILE_MARK.length)).toString('utf8');
      current = {};
      result.set(file, current);
      continue;
    }
    if (current === null) throw new Error(`unexpected getfattr output line: ${line.toString('latin1')}`);
    const eq = line.indexOf(0x3d); // '=' inside names is escaped, so the first one separates the value
    const name = unescapeOctal(eq === -1 ? line : line.subarray(0, eq)).toString('utf8');
    current[name] = eq === -1 ? Buffer.alloc(0) : decodeValue(line.subarray(eq + 1).toString('latin1'), name);
  }
  return result;
}

function decodeValue(text: string, name: string): Buffer {
  if (text.startsWith('0x') && /^[0-9a-fA-F]*$/.test(text.slice(2)) && text.length % 2 === 0) {
    return Buffer.from(text.slice(2), 'hex');
  }
  if (text.startsWith('0s')) return Buffer.from(text.slice(2), 'base64');
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    return unescapeOctal(Buffer.from(text.slice(1, -1), 'latin1'));
  }
  throw new Error(`cannot decode getfattr value of ${name}: ${text.slice(0, 40)}`);
}

function isOctalDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x37;
}

/** Decodes getfattr's \ooo escapes back into the raw bytes. */
export function unescapeOctal(raw: Buffer): Buffer {
  const out = Buffer.alloc(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && isOctalDigit(raw[i + 1]) && isOctalDigit(raw[i + 2]) && isOctalDigit(raw[i + 3])) {
      out[n++] = parseInt(raw.subarray(i + 1, i + 4).toString('latin1'), 8) & 0xff;
      i += 3;
    } else {
      out[n++] = raw[i];
    }
  }
  return out.subarray(0, n);
}
