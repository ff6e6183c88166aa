import { describe, expect, it } from 'vitest';
import { isReattachedStdio } from './prepare-spec';

describe('stdio facts from a peer', () => {
  it('takes fds 0-2 with a pipe or terminal key, and nothing that could be more on criu\'s command line', () => {
    expect(isReattachedStdio({ key: 'pipe:[123]', fd: 0 })).toBe(true);
    expect(isReattachedStdio({ key: 'tty[8800:1a]', fd: 0 })).toBe(true);
    expect(isReattachedStdio({ key: 'tty[8800:1a] --action-script /x', fd: 0 })).toBe(false);
    expect(isReattachedStdio({ key: 'pipe:[1]', fd: 3 })).toBe(false);
    expect(isReattachedStdio({ key: 'mnt[/]', fd: 1 })).toBe(false);
    expect(isReattachedStdio(null)).toBe(false);
  });
});
