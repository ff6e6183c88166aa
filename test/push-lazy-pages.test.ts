// Lazy restore: the destination resumes the container before its memory is in; CRIU's
// lazy-pages daemon copies it from the images there, on fault and in the background.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, askMemhog, cli, lab, memhogChecksum, push, removeEverywhere, startMemhog, state, type PushSummary } from './lab';

interface LazySummary extends PushSummary {
  lazyPages: boolean;
}

describe('lazy restore', () => {
  const names = ['lazy-churn', 'lazy-small', 'lazy-nouffd'];
  beforeAll(() => removeEverywhere(...names));
  afterAll(() => removeEverywhere(...names));

  it('resumes a large container first; memory it rewrites while its pages come in stays consistent', async () => {
    await startMemhog('node1', 'lazy-churn', ['256', 'churn', '8']);
    const s = push('node1', 'lazy-churn', 'node2') as LazySummary;
    expect(s.lazyPages).toBe(true); // the default (auto) for 256 MiB
    // criu restore no longer reads the 256 MiB into the new process: the daemon did, after.
    expect(s.phaseMs['lazy-pages']).toBeGreaterThan(0);
    expect(s.downtimeMs + s.phaseMs['lazy-pages']).toBeLessThan(s.totalMs); // not in the downtime
    const first = await askMemhog('node2', 'lazy-churn', 'verify');
    expect(first).toMatch(/^verify ok \d+$/);
    const later = await askMemhog('node2', 'lazy-churn', 'verify');
    expect(later).toMatch(/^verify ok \d+$/);
    expect(Number(later.split(' ')[2])).toBeGreaterThan(Number(first.split(' ')[2]));

    // --lazy-pages never: the eager restore, with the memory as consistent.
    const back = push('node2', 'lazy-churn', 'node1', '--lazy-pages', 'never') as LazySummary;
    expect(back.lazyPages).toBe(false);
    expect(back.phaseMs['lazy-pages']).toBeUndefined();
    expect(await askMemhog('node1', 'lazy-churn', 'verify')).toMatch(/^verify ok \d+$/);
  });

  it('restores a small container eagerly by default, lazily when asked, bit for bit either way', async () => {
    const sum = await startMemhog('node1', 'lazy-small', ['16']);
    const s = push('node1', 'lazy-small', 'node2') as LazySummary;
    expect(s.lazyPages).toBe(false);
    expect(await memhogChecksum('node2', 'lazy-small')).toBe(sum);
    // What the operator sees: it runs there first, then its memory is in.
    const lazy = cli('node2', 'push', 'lazy-small', '--to', 'node1', '--lazy-pages', 'always', '--no-precopy');
    expect(lazy.code, lazy.stderr).toBe(0);
    const lines = lazy.stdout.split('\n');
    const resumedAt = lines.findIndex((l) => /restore done: criu restore \d+ ms; lazy-small runs on node1$/.test(l));
    const inAt = lines.findIndex((l) => /lazy-pages done: memory copied in over \d+ ms$/.test(l));
    expect(resumedAt).toBeGreaterThan(0);
    expect(inAt).toBeGreaterThan(resumedAt);
    expect(lazy.stdout).toMatch(/destination: receive \d+ ms, criu-restore \d+ ms \(lazy restore: running there during lazy-pages\)/);
    expect(await memhogChecksum('node1', 'lazy-small')).toBe(sum);
  });

  describe('on a destination without userfaultfd', () => {
    beforeAll(() => expect(lab('restart-agent', 'node2', '--criu', path.join(ROOT, 'test/tools/criu-without-uffd.sh')).code).toBe(0));
    afterAll(() => lab('restart-agent', 'node2'));

    it('says so in status', () => {
      const r = cli('node1', 'status', '--to', 'node2');
      expect(r.stdout).toMatch(/^local  node1: .*lazy restore yes$/m);
      expect(r.stdout).toMatch(/^peer   node2: .*lazy restore no \(no userfaultfd\) \(reached in/m);
    });

    it('refuses --lazy-pages always before the freeze, and restores eagerly by default', async () => {
      const sum = await startMemhog('node1', 'lazy-nouffd', ['128']);
      const started = state('node1', 'lazy-nouffd')?.startedAt;
      const r = cli('node1', 'push', 'lazy-nouffd', '--to', 'node2', '--lazy-pages', 'always');
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toBe('migrate-cli: error: destination: cannot restore lazily on node2: criu check --feature uffd-noncoop fails (push with --lazy-pages never)');
      expect(state('node1', 'lazy-nouffd')).toMatchObject({ running: true, startedAt: started });
      expect(state('node2', 'lazy-nouffd')).toBeNull();
      const s = push('node1', 'lazy-nouffd', 'node2') as LazySummary;
      expect(s.lazyPages).toBe(false);
      expect(await memhogChecksum('node2', 'lazy-nouffd')).toBe(sum);
    });
  });
});
