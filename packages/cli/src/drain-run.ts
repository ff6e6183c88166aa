// The drain's moves: the planned containers, N pushes at a time. A push holds its place until it
// hands it on: once its container runs on the destination, or (`ahead`) once it begins to copy
// (disk rounds, pre-copy: its turn to be frozen taken in the source agent, which the next push
// then waits for before its own), so that the next push's pre-flight runs while this one copies.
// Its tail (the memory still copied in, the commit, the source copy removed) goes on beside the
// next push's copying, which does not crowd a freeze (the source agent's freeze turns keep its
// heavy steps out of them). At most 3 moves in flight a place with `ahead` (an agent's default
// --max-incoming is 4). A failed push (rolled back by the agent, the container running on the
// source) does not stop the others; once `stopping` says so (Ctrl-C), the moves in flight finish
// and no new one starts.
import type { PlanEntry } from './drain-plan';

export interface MoveResult {
  container: string;
  destination: string; // the destination's node name ('' when it never started)
  result: 'moved' | 'failed' | 'refused' | 'not started';
  reason: string;
  downtimeMs: number;
  totalMs: number;
  bytesWire: number;
}

export interface DrainRun {
  parallel: number;
  /** A move hands its place on before its container runs there (when it begins to copy): one more move in flight a place. */
  ahead: boolean;
  /**
   * Pushes one planned container; calls `handOn()` once the next move may start (its container
   * runs on the destination, or with `ahead` it began to copy); resolves with its result (never
   * throws).
   */
  move: (e: PlanEntry, handOn: () => void) => Promise<MoveResult>;
  stopping: () => boolean;
}

/** Runs the plan's moves; results in the plan's order (refusals included). */
export async function runMoves(plan: readonly PlanEntry[], r: DrainRun): Promise<MoveResult[]> {
  const results = new Map<string, MoveResult>();
  const parallel = Math.max(1, r.parallel);
  // Tails overlap the next moves, but at most one tail per place (and one move ahead): a long
  // one (much memory still copied in) must not let moves pile up.
  const most = (r.ahead ? 3 : 2) * parallel;
  let places = parallel;
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const changed = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const moves: Promise<void>[] = [];
  for (const e of plan.filter((x) => x.verdict !== 'refused')) {
    while (places === 0 || inFlight >= most) await new Promise<void>((resolve) => (wake = resolve));
    if (r.stopping()) {
      results.set(e.container, { ...unmoved(e), result: 'not started', reason: 'the drain was interrupted before it started' });
      continue;
    }
    places--;
    inFlight++;
    let holds = true;
    const giveBack = (): void => {
      if (!holds) return;
      holds = false;
      places++;
      changed();
    };
    moves.push(
      r.move(e, giveBack).then((res) => void results.set(e.container, res)).finally(() => {
        inFlight--;
        giveBack();
        changed();
      }),
    );
  }
  await Promise.all(moves);
  return plan.map((e) => results.get(e.container) ?? { ...unmoved(e), result: 'refused', reason: e.reason });
}

function unmoved(e: PlanEntry): MoveResult {
  return { container: e.container, destination: e.destinationNode, result: 'refused', reason: '', downtimeMs: 0, totalMs: 0, bytesWire: 0 };
}
