// CRIU's pipes-data.img: what sat unread in the dumped tree's pipes. criu restore writes it back
// only into pipes it creates itself, not into one handed over with --inherit-fd; the caller of
// this module carries it into such a pipe.
//
// Layout (criu/image.c, criu/pipes.c): two u32 magics, then per pipe a u32 length, a
// pipe_data_entry protobuf (pipe_id = 1, bytes = 2, size = 3, all varints), and `bytes` of data.

const IMG_COMMON_MAGIC = 0x54564319;
const PIPES_DATA_MAGIC = 0x56453709;
export const PIPES_DATA_IMAGE = 'pipes-data.img';

function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (let i = at; i < b.length; i++) {
    v += (b[i] & 0x7f) * 2 ** shift;
    if ((b[i] & 0x80) === 0) return [v, i + 1];
    shift += 7;
  }
  throw new Error('pipes-data.img: a truncated varint');
}

/** pipe_data_entry's fields this module reads. */
function parseEntry(b: Buffer): { pipeId: number; bytes: number } {
  const fields = new Map<number, number>();
  for (let at = 0; at < b.length;) {
    const [tag, next] = varint(b, at);
    if ((tag & 7) !== 0) throw new Error(`pipes-data.img: field ${tag >> 3} is not a varint`);
    const [v, after] = varint(b, next);
    fields.set(tag >> 3, v);
    at = after;
  }
  return { pipeId: fields.get(1) ?? -1, bytes: fields.get(2) ?? 0 };
}

/** The bytes CRIU found unread in the pipe of this id (its inode, as in "pipe:[id]"); empty if none. */
export function unreadPipeData(image: Buffer, pipeId: number): Buffer {
  if (image.length < 8 || image.readUInt32LE(0) !== IMG_COMMON_MAGIC || image.readUInt32LE(4) !== PIPES_DATA_MAGIC) {
    throw new Error('pipes-data.img: not a CRIU pipe data image');
  }
  for (let at = 8; at < image.length;) {
    if (at + 4 > image.length) throw new Error('pipes-data.img: a truncated entry');
    const len = image.readUInt32LE(at);
    const entry = parseEntry(image.subarray(at + 4, at + 4 + len));
    const data = at + 4 + len;
    if (data + entry.bytes > image.length) throw new Error('pipes-data.img: truncated data');
    if (entry.pipeId === pipeId) return image.subarray(data, data + entry.bytes);
    at = data + entry.bytes;
  }
  return Buffer.alloc(0);
}
