import { describe, expect, it } from 'vitest';
import { criuLogErrors } from './criu-runner';

describe('criuLogErrors', () => {
  it('gives the last distinct Error lines, without the ones every run on this kind of host logs', () => {
    const log = [
      '(00.041351) Error (criu/util.c:1534): rlimit: Can\'t setup RLIMIT_NOFILE for self: Operation not permitted',
      '(00.100000) Error (criu/files.c:10): first',
      '(00.200000) 1: Error (criu/bfd.c:131): bfd: Error flushing image: No space left on device',
      '(00.200001) Warn (criu/x.c:1): not an error',
      '(00.300000) Error (criu/bfd.c:131): bfd: Error flushing image: No space left on device',
      '(00.400000) Error (criu/cr-dump.c:2): Dumping FAILED.',
    ].join('\n');
    expect(criuLogErrors(log, 2)).toEqual([
      'Error (criu/bfd.c:131): bfd: Error flushing image: No space left on device',
      'Error (criu/cr-dump.c:2): Dumping FAILED.',
    ]);
    expect(criuLogErrors(log)).toHaveLength(3);
    expect(criuLogErrors(log).join()).not.toMatch(/rlimit/);
  });
});
