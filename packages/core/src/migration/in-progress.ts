// Migrations in progress on this agent, by ID, so that a question about one ("did it commit?")
// can wait for its final answer instead of reading a state that is about to change.
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
    if (!p) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`migration ${id} is still in progress here`)), timeoutMs);
    });
    await Promise.race([p, late]).finally(() => clearTimeout(timer));
  }
}
