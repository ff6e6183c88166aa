import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { withQuietMarks } from './quiet-marks';

async function collect<T>(src: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of src) out.push(x);
  return out;
}

describe('withQuietMarks', () => {
  it('marks a pause between two items', async () => {
    async function* gen(): AsyncGenerator<string> {
      yield 'a';
      yield 'b';
      await sleep(30);
      yield 'c';
    }
    expect(await collect(withQuietMarks(gen(), 5))).toEqual(['a', 'b', undefined, 'c']);
  });

  it('marks each pause once, however long it lasts', async () => {
    async function* gen(): AsyncGenerator<number> {
      yield 1;
      await sleep(40);
      yield 2;
      yield 3;
      await sleep(20);
      yield 4;
    }
    expect(await collect(withQuietMarks(gen(), 5))).toEqual([1, undefined, 2, 3, undefined, 4]);
  });

  it('marks nothing in a sequence without pauses', async () => {
    async function* gen(): AsyncGenerator<number> {
      for (let i = 0; i < 100; i++) yield i;
    }
    expect(await collect(withQuietMarks(gen(), 20))).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('yields nothing for an empty source', async () => {
    async function* gen(): AsyncGenerator<number> {}
    expect(await collect(withQuietMarks(gen(), 5))).toEqual([]);
  });

  it('marks nothing before the first item, however late it is', async () => {
    async function* gen(): AsyncGenerator<string> {
      await sleep(30);
      yield 'x';
      yield 'y';
    }
    expect(await collect(withQuietMarks(gen(), 5))).toEqual(['x', 'y']);
  });

  it('marks a pause before the end of its source, then ends', async () => {
    async function* gen(): AsyncGenerator<string> {
      yield 'x';
      await sleep(30);
    }
    expect(await collect(withQuietMarks(gen(), 5))).toEqual(['x', undefined]);
  });

  it('passes on the error of its source', async () => {
    async function* gen(): AsyncGenerator<string> {
      yield 'a';
      await sleep(20);
      throw new Error('source failed');
    }
    const got: Array<string | undefined> = [];
    await expect(
      (async () => {
        for await (const x of withQuietMarks(gen(), 5)) got.push(x);
      })(),
    ).rejects.toThrow('source failed');
    expect(got).toEqual(['a', undefined]);
  });

  it('closes its source when the consumer stops early', async () => {
    let closed = false;
    async function* gen(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const got: Array<number | undefined> = [];
    for await (const x of withQuietMarks(gen(), 5)) {
      got.push(x);
      if (got.length === 3) break;
    }
    expect(got).toEqual([0, 1, 2]);
    expect(closed).toBe(true);
  });
});
