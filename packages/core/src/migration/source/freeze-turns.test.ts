import { describe, expect, it } from 'vitest';
import { FreezeTurns } from './freeze-turns';

describe('FreezeTurns', () => {
  it('gives turns one at a time, in the order asked, and a release twice is one', async () => {
    const turns = new FreezeTurns();
    const order: string[] = [];
    const releaseA = await turns.take();
    order.push('a');
    const b = turns.take().then((r) => (order.push('b'), r));
    const c = turns.take().then((r) => (order.push('c'), r));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['a']);
    expect(turns.waiting).toBe(3);
    releaseA();
    releaseA();
    const releaseB = await b;
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['a', 'b']);
    releaseB();
    (await c)();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(turns.waiting).toBe(0);
  });

  it('free() waits while a container is frozen, and not at all otherwise', async () => {
    const turns = new FreezeTurns();
    await turns.free();
    const release = await turns.take();
    let freed = false;
    const waiting = turns.free().then(() => (freed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(freed).toBe(false);
    release();
    await waiting;
    expect(freed).toBe(true);
  });
});
