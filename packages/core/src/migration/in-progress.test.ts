import { describe, expect, it } from 'vitest';
import { InProgress } from './in-progress';

describe('InProgress', () => {
  it('answers at once for a migration that is not in progress', async () => {
    await expect(new InProgress().settled('unknown', 10)).resolves.toBeUndefined();
  });

  it('waits until a migration in progress ends, failed or not', async () => {
    const p = new InProgress();
    let finish = (): void => undefined;
    const work = p.run('m1', () => new Promise<void>((_resolve, reject) => (finish = () => reject(new Error('rolled back')))));
    work.catch(() => undefined);
    let answered = false;
    const asked = p.settled('m1', 5_000).then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    finish();
    await asked;
    expect(answered).toBe(true);
    await expect(work).rejects.toThrow('rolled back');
  });

  it('gives up after the timeout', async () => {
    const p = new InProgress();
    void p.run('m2', () => new Promise(() => undefined));
    await expect(p.settled('m2', 20)).rejects.toThrow(/timed out after 0\.02 s waiting for migration m2, still in progress here, to end/);
  });
});
