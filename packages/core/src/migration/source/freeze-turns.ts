// One container frozen at a time per source agent. Two freezes at once on a small host share its
// CPUs and its link: each dump, transfer and restore takes longer, so each container's downtime
// grows (a drain with --parallel 2 on 2 cores: up to 2.6x a push alone). Pushes in parallel
// still overlap everything done while their containers run (disk rounds, pre-copy, the
// destination's restore of the memory copied in lazily); only the frozen part takes turns, and
// while one container is frozen the others' disk rounds and pre-copy pause between chunks
// (free()), leaving the CPUs and the link to the frozen one.

export class FreezeTurns {
  private tail: Promise<void> = Promise.resolve();
  /** How many pushes hold or wait for a turn. */
  waiting = 0;
  /** Resolves when the turn now held is given back; undefined while none is held. */
  private held: Promise<void> | undefined;

  /** Waits for this push's turn; returns its release (idempotent: call it on every path). */
  async take(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.tail;
    this.tail = before.then(() => mine);
    this.waiting++;
    await before;
    this.held = mine;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.waiting--;
      if (this.held === mine) this.held = undefined;
      release();
    };
  }

  /** Resolves once no container of this agent is frozen (at once when none is). */
  async free(): Promise<void> {
    while (this.held) await this.held;
  }
}

/** For a stream sent while its container runs: wait out the freezes of this agent's other pushes. */
export function yieldToFreezes(turns: FreezeTurns | undefined): (() => Promise<void>) | undefined {
  return turns && (() => turns.free());
}
