// The destination's lease over fake channels and a fake fence (fence.test.ts runs the real one).
import { describe, expect, it } from 'vitest';
import type { DestinationChannel } from '../../protocol/channels';
import type { MigrateReply, MigrateRequest } from '../../rpc/messages';
import { DestinationLease } from './lease';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function setup(leaseMs = 200): { lease: DestinationLease; beats: number[]; fence: string[] } {
  const beats: number[] = [];
  const fence: string[] = [];
  const lease = new DestinationLease({
    leaseMs,
    send: (r: MigrateReply) => void (r.body === 'heartbeat' && beats.push(r.heartbeat.seq)),
    startFence: (pid, ms) => {
      fence.push(`start ${pid} ${Math.round(ms / 50) * 50}`);
      return { extend: (left) => void fence.push(`extend ${Math.round(left / 50) * 50}`), disarm: async () => (fence.push('disarm'), true), stop: () => void fence.push('stop') };
    },
  });
  return { lease, beats, fence };
}

/** A source channel fed by hand. */
function channel(): { ch: DestinationChannel; push: (r: MigrateRequest) => void } {
  const queue: MigrateRequest[] = [];
  let wake: (() => void) | undefined;
  return {
    push: (r) => {
      queue.push(r);
      wake?.();
    },
    ch: {
      send: () => undefined,
      requests: {
        next: async () => {
          while (queue.length === 0) await new Promise<void>((r) => (wake = r));
          return { done: false, value: queue.shift() as MigrateRequest };
        },
      },
    },
  };
}

describe('DestinationLease', () => {
  it('beats every L/4 from End on; nothing resumes without an echo', async () => {
    const { lease, beats, fence } = setup(200);
    lease.startBeats();
    await expect(lease.hold(42)).rejects.toThrow(/no heartbeat echoed by the source within the lease \(200 ms\)/);
    expect(beats.length).toBeGreaterThanOrEqual(4);
    expect(fence).toEqual([]);
    lease.stop();
  });

  it('an echo lets the copy resume with the fence armed for what is left; echoes take the beats out of the stream', async () => {
    const { lease, fence } = setup(400);
    const { ch, push } = channel();
    const requests = lease.requests(ch);
    lease.startBeats();
    push({ body: 'heartbeat', heartbeat: { seq: 1 } });
    push({ body: 'commit', commit: {} });
    expect((await requests.requests.next()).value).toEqual({ body: 'commit', commit: {} });
    await lease.hold(42);
    expect(fence).toEqual(['start 42 400']);
    await lease.confirm();
    expect(fence).toEqual(['start 42 400', 'disarm']);
    lease.stop();
  });

  it('runs out L after the send time of the newest echoed beat, even while newer beats still go out (one way cut)', async () => {
    const { lease, beats } = setup(400);
    const started = performance.now();
    lease.startBeats();
    lease.echo(1);
    await lease.hold(42);
    // From here on beats go (every 100 ms), none is echoed: had one extended it, 700 ms or more.
    await expect(lease.expired).rejects.toThrow(/the lease ran out: no echo from the source for 400 ms/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(395);
    expect(performance.now() - started).toBeLessThan(650);
    expect(beats.length).toBeGreaterThan(2);
    await expect(lease.confirm()).rejects.toThrow(/Commit came after the lease ran out/);
    lease.stop();
  });

  it('each echo extends the lease to its beat\'s send time + L; an old or unknown one extends nothing', async () => {
    const { lease, beats, fence } = setup(200);
    lease.startBeats();
    lease.echo(1);
    await lease.hold(42);
    let expired = false;
    lease.expired.catch(() => (expired = true));
    for (let i = 0; i < 8; i++) {
      await sleep(50);
      lease.echo(beats[beats.length - 1]);
    }
    expect(expired).toBe(false);
    const before = fence.length;
    lease.echo(1); // already echoed
    lease.echo(999); // never sent
    expect(fence.length).toBe(before);
    lease.stop();
    expect(fence[fence.length - 1]).toBe('stop');
  });
});
