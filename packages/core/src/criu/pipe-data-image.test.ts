import { describe, expect, it } from 'vitest';
import { unreadPipeData } from './pipe-data-image';

/** An image as criu dump writes it: magics, then [u32 length, pipe_data_entry, data] per pipe. */
function image(entries: Array<{ id: number; data: string }>): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x54564319, 0);
  head.writeUInt32LE(0x56453709, 4);
  const parts = [head];
  for (const e of entries) {
    const data = Buffer.from(e.data);
    // pipe_id (field 1), bytes (field 2), size (field 3) = 65536, as varints
    const pb = Buffer.from([0x08, ...varint(e.id), 0x10, ...varint(data.length), 0x18, 0x80, 0x80, 0x04]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(pb.length);
    parts.push(len, pb, data);
  }
  return Buffer.concat(parts);
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

describe('pipes-data.img', () => {
  const img = image([{ id: 21641, data: 'log line\n' }, { id: 4026531840, data: 'typed before the freeze\n' }]);

  it('finds the unread bytes of one pipe among several', () => {
    expect(unreadPipeData(img, 4026531840).toString()).toBe('typed before the freeze\n');
    expect(unreadPipeData(img, 21641).toString()).toBe('log line\n');
  });

  it('has nothing for a pipe CRIU found empty', () => {
    expect(unreadPipeData(img, 7).length).toBe(0);
    expect(unreadPipeData(image([]), 7).length).toBe(0);
  });

  it('refuses what is not a pipe data image, or is cut short', () => {
    expect(() => unreadPipeData(Buffer.from('not an image'), 1)).toThrow(/not a CRIU pipe data image/);
    expect(() => unreadPipeData(img.subarray(0, img.length - 3), 4026531840)).toThrow(/truncated/);
  });
});
