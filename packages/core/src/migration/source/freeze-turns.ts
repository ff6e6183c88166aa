// One container frozen at a time per source agent. Two freezes at once on a small host share its
// CPUs and its link: each dump, transfer and restore takes longer, so each container's downtime
// grows (a drain with --parallel 2 on 2 cores: up to 2.6x a push alone). Pushes in parallel
// still overlap everything done while their containers run (disk rounds, pre-copy, the
// destination's restore of the memory copied in lazily); only the frozen part takes turns.

export class FreezeTurns {
  private tail: Promise<void> = Promise.resolve();
  /** How many pushes hold or wait for a turn. */
  waiting = 0;

  /** Waits for this push's turn; returns its release (idempotent: call it on every path). */
  async take(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.tail;
    this.tail = before.then(() => mine);
    this.waiting++;
    await before;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.waiting--;
      release();
    };
  }
}
