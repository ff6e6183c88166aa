import { describe, expect, it } from 'vitest';
import { LAZY_PAGES_MIN_BYTES, lazyRestoreFor } from './lazy-restore-choice';

describe('lazyRestoreFor', () => {
  it('restores lazily by default only where the container holds enough memory, and only if the destination can', () => {
    expect(lazyRestoreFor('LAZY_PAGES_AUTO', LAZY_PAGES_MIN_BYTES - 1, false)).toBe('LAZY_RESTORE_NO');
    expect(lazyRestoreFor('LAZY_PAGES_AUTO', LAZY_PAGES_MIN_BYTES, false)).toBe('LAZY_RESTORE_IF_SUPPORTED');
  });

  it('does as told, and never in a --serial push (the CRIU floor is an eager restore)', () => {
    expect(lazyRestoreFor('LAZY_PAGES_ALWAYS', 0, false)).toBe('LAZY_RESTORE_YES');
    expect(lazyRestoreFor('LAZY_PAGES_NEVER', 1 << 30, false)).toBe('LAZY_RESTORE_NO');
    expect(lazyRestoreFor('LAZY_PAGES_ALWAYS', 1 << 30, true)).toBe('LAZY_RESTORE_NO');
  });
});
