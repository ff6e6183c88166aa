// One container frozen at a time per source agent. Two freezes at once on a small host share its
// CPUs and its link: each dump, transfer and restore takes longer, so each container's downtime
// grows (a drain with --parallel 2 on 2 cores: up to 2.6x a push alone). Pushes in parallel
// still overlap everything done while their containers run; only the frozen part takes turns.
// While one container is frozen: the others' disk rounds and pre-copy pause between chunks
// (free()), and their heavy steps (the pre-flight with the destination's docker create and start,
// the source's docker rm after a commit) do not start (outsideFreezes()); a freeze about to start
// waits for those in flight and for the last container's memory still being copied in on the
// destination (busyUntil()), at most `quietWaitMs`: on a small host each of them slowed the
// frozen one's dump and restore (a redis's downtime 0.12 -> 0.19 s). Measured with
// scripts/bench.sh --drain-only (README, Drain).

/** A push's turn to be frozen. */
export interface FreezeTurn {
  /** Its container is about to be frozen: waits for the heavy steps in flight (at most quietWaitMs). */
  freezing(): Promise<void>;
  /** Its container runs again (here or there): the next push's turn (idempotent: call it on every path). */
  release(): void;
}

export class FreezeTurns {
  private tail: Promise<void> = Promise.resolve();
  /** How many pushes hold or wait for a turn. */
  waiting = 0;
  /** Resolves when the container frozen now runs again; undefined while none is frozen. */
  private held: Promise<void> | undefined;
  /** Heavy steps in flight outside the freezes (outsideFreezes). */
  private readonly busy = new Set<Promise<unknown>>();

  /** @param quietWaitMs how long a freeze waits at most for the heavy steps in flight to end */
  constructor(private readonly quietWaitMs = 2_000) {}

  /** Waits for this push's turn (its container is not frozen yet: freezing() says when). */
  async take(): Promise<FreezeTurn> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    let thaw!: () => void;
    const frozen = new Promise<void>((resolve) => (thaw = resolve));
    const before = this.tail;
    this.tail = before.then(() => mine);
    this.waiting++;
    await before;
    let released = false;
    const turn: FreezeTurn = {
      freezing: async () => {
        if (released) return;
        this.held = frozen; // from here no new heavy step starts
        await this.quiet();
      },
      release: () => {
        if (released) return;
        released = true;
        this.waiting--;
        if (this.held === frozen) this.held = undefined;
        thaw();
        release();
      },
    };
    return turn;
  }

  /** Resolves once no container of this agent is frozen (at once when none is). */
  async free(): Promise<void> {
    while (this.held) await this.held;
  }

  /**
   * Runs a heavy step of a push whose container is not frozen (one that takes CPU from a frozen
   * container's dump and restore on a small host) once none is frozen; a freeze about to start
   * waits for it.
   */
  async outsideFreezes<T>(work: () => Promise<T>): Promise<T> {
    await this.free();
    return this.busyUntil(work());
  }

  /** Heavy work already running (a container's memory copied in after it resumed): a freeze about to start waits for it. */
  busyUntil<T>(running: Promise<T>): Promise<T> {
    const settled = running.then(() => undefined, () => undefined);
    this.busy.add(settled);
    void settled.then(() => this.busy.delete(settled));
    return running;
  }

  /** The heavy steps in flight have ended, or quietWaitMs passed. */
  private async quiet(): Promise<void> {
    if (this.busy.size === 0) return;
    await settledOrAfter(Promise.all([...this.busy]), this.quietWaitMs);
  }
}

/** Waits for `p`, but no longer than `ms` (then returns, `p` still pending). */
export async function settledOrAfter(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([p, cap]);
  clearTimeout(timer);
}

/** For a stream sent while its container runs: wait out the freezes of this agent's other pushes. */
export function yieldToFreezes(turns: FreezeTurns | undefined): (() => Promise<void>) | undefined {
  return turns && (() => turns.free());
}

/** A heavy step of a push outside this agent's freezes (outsideFreezes), or at once without turns. */
export function outsideFreezes<T>(turns: FreezeTurns | undefined, work: () => Promise<T>): Promise<T> {
  return turns ? turns.outsideFreezes(work) : work();
}

/** Heavy work of a push already running (busyUntil), or as it is without turns. */
export function busyUntil<T>(turns: FreezeTurns | undefined, running: Promise<T>): Promise<T> {
  return turns ? turns.busyUntil(running) : running;
}
