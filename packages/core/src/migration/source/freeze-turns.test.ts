import { describe, expect, it } from 'vitest';
import { FreezeTurns } from './freeze-turns';

const tick = (ms = 10): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('FreezeTurns', () => {
  it('gives turns one at a time, in the order asked, and a release twice is one', async () => {
    const turns = new FreezeTurns();
    const order: string[] = [];
    const a = await turns.take();
    order.push('a');
    const b = turns.take().then((r) => (order.push('b'), r));
    const c = turns.take().then((r) => (order.push('c'), r));
    await tick();
    expect(order).toEqual(['a']);
    expect(turns.waiting).toBe(3);
    a.release();
    a.release();
    const turnB = await b;
    await tick();
    expect(order).toEqual(['a', 'b']);
    turnB.release();
    (await c).release();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(turns.waiting).toBe(0);
  });

  it('free() waits while a container is frozen, and not at all otherwise', async () => {
    const turns = new FreezeTurns();
    await turns.free();
    const turn = await turns.take();
    await turns.free(); // its turn, not yet frozen
    await turn.freezing();
    let freed = false;
    const waiting = turns.free().then(() => (freed = true));
    await tick();
    expect(freed).toBe(false);
    turn.release();
    await waiting;
    expect(freed).toBe(true);
  });

  it('a heavy step starts only once none is frozen, and a freeze waits for the steps in flight', async () => {
    const turns = new FreezeTurns();
    const events: string[] = [];
    let endStep!: () => void;
    const step = turns.outsideFreezes(async () => {
      events.push('step start');
      await new Promise<void>((r) => (endStep = r));
      events.push('step end');
      return 7;
    });
    const freezing = turns.take().then(async (t) => (await t.freezing(), events.push('frozen'), t));
    await tick();
    // The freeze waits for the step; a step asked for meanwhile waits for the freeze.
    const later = turns.outsideFreezes(async () => void events.push('later step'));
    await tick();
    expect(events).toEqual(['step start']);
    endStep();
    expect(await step).toBe(7);
    const turn = await freezing;
    await tick();
    expect(events).toEqual(['step start', 'step end', 'frozen']);
    turn.release();
    await later;
    expect(events).toEqual(['step start', 'step end', 'frozen', 'later step']);
  });

  it('a freeze waits for a heavy step at most quietWaitMs', async () => {
    const turns = new FreezeTurns(30);
    void turns.outsideFreezes(() => new Promise<void>(() => undefined)); // never ends
    const t0 = performance.now();
    const turn = await turns.take();
    await turn.freezing();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(performance.now() - t0).toBeLessThan(1_000);
    turn.release();
  });

  it('a failed heavy step rejects to its caller and does not hold the next freeze', async () => {
    const turns = new FreezeTurns(5_000);
    await expect(turns.outsideFreezes(() => Promise.reject(new Error('docker rm failed')))).rejects.toThrow('docker rm failed');
    const t0 = performance.now();
    const turn = await turns.take();
    await turn.freezing();
    turn.release();
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('a freeze waits for work already running (busyUntil), which resolves to its caller', async () => {
    const turns = new FreezeTurns();
    let pagesIn!: (v: string) => void;
    const running = turns.busyUntil(new Promise<string>((r) => (pagesIn = r)));
    let frozen = false;
    const freezing = turns.take().then(async (t) => (await t.freezing(), (frozen = true), t));
    await tick();
    expect(frozen).toBe(false);
    pagesIn('restored');
    expect(await running).toBe('restored');
    (await freezing).release();
    expect(frozen).toBe(true);
  });
});
