import { describe, expect, it } from 'vitest';
import type { PlanEntry } from './drain-plan';
import { runMoves, type MoveResult } from './drain-run';

const entry = (container: string, verdict: PlanEntry['verdict'] = 'moves live', reason = ''): PlanEntry =>
  ({ container, id: container, destination: 'node2', destinationNode: 'node2', verdict, reason, memoryBytes: 0, diskBytes: 0 });
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('runMoves', () => {
  it('runs N at a time, a failure does not stop the rest, refusals keep their reason', async () => {
    let running = 0;
    let most = 0;
    const plan = [entry('a'), entry('b'), entry('h', 'refused', 'uses --network host'), entry('c'), entry('d', 'moves cold')];
    const results = await runMoves(plan, {
      parallel: 2,
      ahead: false,
      stopping: () => false,
      move: async (e): Promise<MoveResult> => {
        most = Math.max(most, ++running);
        await tick();
        running--;
        const failed = e.container === 'b';
        return { container: e.container, destination: 'node2', result: failed ? 'failed' : 'moved', reason: failed ? 'destination gone' : '', downtimeMs: 1, totalMs: 2, bytesWire: 3 };
      },
    });
    expect(most).toBe(2);
    expect(results.map((r) => [r.container, r.result])).toEqual([['a', 'moved'], ['b', 'failed'], ['h', 'refused'], ['c', 'moved'], ['d', 'moved']]);
    expect(results[2].reason).toBe('uses --network host');
  });

  it('once stopping, finishes the moves in flight and starts no new one', async () => {
    let stop = false;
    const started: string[] = [];
    const results = await runMoves([entry('a'), entry('b'), entry('c'), entry('d')], {
      parallel: 2,
      ahead: false,
      stopping: () => stop,
      move: async (e): Promise<MoveResult> => {
        started.push(e.container);
        await tick();
        stop = true; // Ctrl-C while the first two run
        await tick();
        return { container: e.container, destination: 'node2', result: 'moved', reason: '', downtimeMs: 1, totalMs: 2, bytesWire: 3 };
      },
    });
    expect(started).toEqual(['a', 'b']);
    expect(results.map((r) => r.result)).toEqual(['moved', 'moved', 'not started', 'not started']);
  });

  it('starts the next move once one runs on the destination, with at most one tail per place', async () => {
    const log: string[] = [];
    let inFlight = 0;
    let most = 0;
    const results = await runMoves([entry('a'), entry('b'), entry('c'), entry('d')], {
      parallel: 1,
      ahead: false,
      stopping: () => false,
      move: async (e, running): Promise<MoveResult> => {
        most = Math.max(most, ++inFlight);
        log.push(`start ${e.container}`);
        await tick();
        running(); // it runs there: its tail (memory copied in, commit, docker rm) goes on
        running(); // said twice: one place given back
        for (let i = 0; i < (e.container === 'a' ? 6 : 2); i++) await tick();
        log.push(`end ${e.container}`);
        inFlight--;
        return { container: e.container, destination: 'node2', result: 'moved', reason: '', downtimeMs: 1, totalMs: 2, bytesWire: 3 };
      },
    });
    expect(most).toBe(2);
    // b starts during a's tail; c, though b runs there, waits until one of the two ends (b, the shorter).
    expect(log.indexOf('start b')).toBeLessThan(log.indexOf('end a'));
    expect(log.indexOf('start c')).toBeGreaterThan(log.indexOf('end b'));
    expect(log.indexOf('start c')).toBeLessThan(log.indexOf('end a'));
    expect(results.map((r) => r.result)).toEqual(['moved', 'moved', 'moved', 'moved']);
  });

  it('ahead: the next move starts once one hands on before it runs there, with one tail and one move ahead at most', async () => {
    const log: string[] = [];
    let inFlight = 0;
    let most = 0;
    const results = await runMoves([entry('a'), entry('b'), entry('c'), entry('d'), entry('e')], {
      parallel: 1,
      ahead: true,
      stopping: () => false,
      move: async (e, handOn): Promise<MoveResult> => {
        most = Math.max(most, ++inFlight);
        log.push(`start ${e.container}`);
        await tick(); // pre-flight
        handOn(); // its pre-copy began
        for (let i = 0; i < (e.container === 'a' ? 12 : 3); i++) await tick(); // pre-copy, freeze, tail
        log.push(`end ${e.container}`);
        inFlight--;
        return { container: e.container, destination: 'node2', result: 'moved', reason: '', downtimeMs: 1, totalMs: 2, bytesWire: 3 };
      },
    });
    expect(most).toBe(3);
    expect(log.indexOf('start b')).toBeLessThan(log.indexOf('end a'));
    expect(log.indexOf('start c')).toBeLessThan(log.indexOf('end a'));
    // a's long tail holds a place: d waits for one of the three to end.
    expect(log.indexOf('start d')).toBeGreaterThan(log.indexOf('end b'));
    expect(results.map((r) => r.result)).toEqual(['moved', 'moved', 'moved', 'moved', 'moved']);
  });
});
