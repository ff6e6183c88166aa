import { describe, expect, it } from 'vitest';
import { beatEveryMs, LEASE_MARGIN_MS, leaseFor, sourceThawAt } from './lease';

describe('the lease rule', () => {
  it('the destination takes the source\'s lease, or its own when shorter; a source without one gets its own', () => {
    expect(leaseFor(1000, 3000)).toBe(1000);
    expect(leaseFor(5000, 3000)).toBe(3000);
    expect(leaseFor(0, 3000)).toBe(3000);
  });

  it('beats four times a lease', () => {
    expect(beatEveryMs(3000)).toBe(750);
  });

  it('the source thaws at once when no beat came after End, else L + margin after it last heard', () => {
    expect(sourceThawAt({ leaseMs: 1000, lastBeatAt: undefined, lastHeardAt: 50, now: 100 })).toBe(100);
    expect(sourceThawAt({ leaseMs: 1000, lastBeatAt: 40, lastHeardAt: 60, now: 100 })).toBe(60 + 1000 + LEASE_MARGIN_MS);
  });
});
