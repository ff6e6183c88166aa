import { describe, expect, it } from 'vitest';
import type { ContainerFacts } from '@livemig/core';
import { makePlan, parseFilter, selects, type DestinationRoom } from './drain-plan';

const MIB = 1024 * 1024;
function ctr(name: string, o: Partial<ContainerFacts> = {}): ContainerFacts {
  return { id: `id-${name}`, name, running: true, labels: {}, memoryBytes: 10 * MIB, memoryLimitBytes: 0, fileBytes: MIB, volumes: [], refusal: '', imageId: 'sha256:i', ...o };
}
const room = (nodeName: string, memMib: number, diskMib = 10_000): DestinationRoom => ({ address: nodeName, nodeName, memoryBytes: memMib * MIB, diskBytes: diskMib * MIB });

describe('parseFilter and selects', () => {
  it('reads name and label filters', () => {
    expect(parseFilter('name=web-*')).toEqual({ kind: 'name', key: 'web-*' });
    expect(parseFilter('label=tier=front=x')).toEqual({ kind: 'label', key: 'tier', value: 'front=x' });
    expect(parseFilter('label=drain')).toEqual({ kind: 'label', key: 'drain' });
    expect(() => parseFilter('image=x')).toThrow(/expected name=NAME/);
    expect(() => parseFilter('name=')).toThrow();
  });

  it('names are alternatives, labels must all hold', () => {
    const f = [parseFilter('name=web-*'), parseFilter('name=db'), parseFilter('label=tier=front')];
    expect(selects(f, ctr('web-1', { labels: { tier: 'front' } }))).toBe(true);
    expect(selects(f, ctr('db', { labels: { tier: 'front' } }))).toBe(true);
    expect(selects(f, ctr('web-1', { labels: { tier: 'back' } }))).toBe(false);
    expect(selects(f, ctr('cache', { labels: { tier: 'front' } }))).toBe(false);
    expect(selects([], ctr('anything'))).toBe(true);
  });
});

describe('makePlan', () => {
  it('plans a stopped container as a cold move, taking disk but no memory there', () => {
    const plan = makePlan([ctr('stopped', { running: false, memoryBytes: 0, memoryLimitBytes: 512 * MIB, fileBytes: 3 * MIB }), ctr('live')], [], [room('node2', 20)]);
    expect(plan).toMatchObject([
      { container: 'stopped', verdict: 'moves cold', destinationNode: 'node2', memoryBytes: 0, diskBytes: 3 * MIB },
      { container: 'live', verdict: 'moves live', destinationNode: 'node2' },
    ]);
  });

  it('keeps the pre-flight refusal and places nothing over a destination\'s room', () => {
    const plan = makePlan(
      [ctr('a', { memoryLimitBytes: 64 * MIB }), ctr('b', { memoryLimitBytes: 64 * MIB }), ctr('c', { memoryLimitBytes: 64 * MIB }), ctr('h', { refusal: 'container h uses --network host, which cannot be migrated' })],
      [],
      [room('node2', 100), room('node3', 140)],
    );
    const by = Object.fromEntries(plan.map((e) => [e.container, e]));
    expect(by.h).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('--network host') });
    const placed = plan.filter((e) => e.verdict === 'moves live');
    expect(placed.filter((e) => e.destinationNode === 'node3')).toHaveLength(2);
    expect(placed.filter((e) => e.destinationNode === 'node2')).toHaveLength(1);
  });

  it('refuses what fits nowhere, with the room left', () => {
    const plan = makePlan([ctr('big', { memoryLimitBytes: 512 * MIB }), ctr('disk', { fileBytes: 900 * MIB })], [], [room('node2', 256, 500)]);
    expect(plan[0]).toMatchObject({ container: 'big', verdict: 'refused', reason: expect.stringMatching(/needs 512 MiB memory.*node2 256 MiB memory/) });
    expect(plan[1]).toMatchObject({ container: 'disk', verdict: 'refused', reason: expect.stringContaining('910 MiB disk') });
  });

  it('uses what a container uses when it has no limit, and places the largest first', () => {
    const plan = makePlan([ctr('small', { memoryBytes: 30 * MIB }), ctr('large', { memoryBytes: 60 * MIB })], [], [room('node2', 70), room('node3', 40)]);
    expect(plan.map((e) => [e.container, e.destinationNode])).toEqual([['small', 'node3'], ['large', 'node2']]);
  });

  it('says why containers sharing a named volume do not move', () => {
    const plan = makePlan([ctr('w1', { volumes: ['data'] }), ctr('w2', { volumes: ['data'] }), ctr('solo', { volumes: ['own'] })], [parseFilter('name=w1'), parseFilter('name=solo')], [room('node2', 1000)]);
    expect(plan.map((e) => e.container)).toEqual(['w1', 'solo']);
    expect(plan[0]).toMatchObject({ verdict: 'refused', reason: expect.stringContaining('shares volume data with w2') });
    expect(plan[1].verdict).toBe('moves live');
  });
});
