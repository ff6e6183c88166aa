import type { DestinationChannel, MigrateRequest } from '@livemig/core';
import { describe, expect, it } from 'vitest';
import { MigrationsInFlight } from './migrations-in-flight';

/** A source that has sent nothing yet (each read waits until `give` is called). */
function waitingSource(): DestinationChannel & { give: (r: MigrateRequest) => void } {
  let pending: ((r: IteratorResult<MigrateRequest>) => void) | undefined;
  return {
    send: () => undefined,
    requests: { next: () => new Promise((resolve) => (pending = resolve)) },
    give: (r) => pending?.({ done: false, value: r }),
  };
}

const commit: MigrateRequest = { body: 'commit', commit: {} };

describe('MigrationsInFlight', () => {
  it('fails the pending read of an incoming migration when the agent stops, and every later one', async () => {
    const m = new MigrationsInFlight();
    const ch = m.incoming(waitingSource(), 'node2');
    const reading = ch.requests.next();
    void m.stop();
    await expect(reading).rejects.toThrow('the agent on node2 is stopping (SIGTERM)');
    await expect(ch.requests.next()).rejects.toThrow('the agent on node2 is stopping (SIGTERM)');
  });

  it('lets an incoming migration that said Restored read its Commit: it finishes', async () => {
    const m = new MigrationsInFlight();
    const src = waitingSource();
    const ch = m.incoming(src, 'node2');
    ch.send({ body: 'restored', restored: { receiveMs: 1, restoreMs: 1, appPid: 1, lazyPages: false, pagesInMs: 0 } });
    const reading = ch.requests.next();
    void m.stop();
    src.give(commit);
    expect((await reading).value).toEqual(commit);
  });

  it('stop() resolves once every tracked migration has ended, failed or not', async () => {
    const m = new MigrationsInFlight();
    let finish: () => void = () => undefined;
    m.track(new Promise<void>((resolve) => (finish = resolve)));
    m.track(Promise.reject(new Error('failed'))).catch(() => undefined);
    await Promise.resolve();
    let stopped = false;
    const stopping = m.stop().then(() => (stopped = true));
    expect(m.signal.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(m.count).toBe(0);
  });
});
