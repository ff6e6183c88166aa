// Migrations in progress on this agent, by ID, so that a question about one ("did it commit?")
// can wait for its final answer instead of reading a state that is about to change.
import { within } from '../protocol/within';

export class InProgress {
  private readonly running = new Map<string, Promise<void>>();

  /** Runs `work` as migration `id`. */
  async run<T>(id: string, work: () => Promise<T>): Promise<T> {
    let done = (): void => undefined;
    this.running.set(id, new Promise((resolve) => (done = resolve)));
    try {
      return await work();
    } finally {
      this.running.delete(id);
      done();
    }
  }

  /** Resolves once migration `id` is not in progress (at once if it is not); rejects after `timeoutMs`. */
  async settled(id: string, timeoutMs: number): Promise<void> {
    const p = this.running.get(id);
    if (p) await within(timeoutMs, `migration ${id}, still in progress here, to end`, p);
  }
}
