import { describe, expect, it } from 'vitest';
import { SentTree } from './sent-tree';

describe('SentTree', () => {
  it('forgets a directory with everything below it, and a file alone', () => {
    const t = new SentTree();
    const e = (kind: 'dir' | 'file') => ({ ino: 1n, ctimeNs: 1n, kind });
    for (const [rel, kind] of [['d', 'dir'], ['d/f', 'file'], ['d/sub', 'dir'], ['d/sub/g', 'file'], ['d2', 'file'], ['f', 'file'], ['f.x', 'file']] as const) t.set(rel, e(kind));
    t.forget('f');
    expect(t.get('f')).toBeUndefined();
    expect(t.get('f.x')).toBeDefined();
    t.forget('d');
    expect(['d', 'd/f', 'd/sub', 'd/sub/g'].map((r) => t.get(r))).toEqual([undefined, undefined, undefined, undefined]);
    expect(t.get('d2')).toBeDefined();
    expect(t.size).toBe(2);
  });
});
