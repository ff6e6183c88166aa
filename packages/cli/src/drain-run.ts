// The drain's moves: the planned containers, N pushes at a time. A failed push (rolled back by
// the agent, the container running on the source) does not stop the others; once `stopping`
// says so (Ctrl-C), the moves in flight finish and no new one starts.
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
  /** Pushes one planned container; resolves with its result (never throws). */
  move: (e: PlanEntry) => Promise<MoveResult>;
  stopping: () => boolean;
}

/** Runs the plan's moves; results in the plan's order (refusals included). */
export async function runMoves(plan: readonly PlanEntry[], r: DrainRun): Promise<MoveResult[]> {
  const results = new Map<string, MoveResult>();
  const queue = plan.filter((e) => e.verdict !== 'refused');
  const worker = async (): Promise<void> => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      if (r.stopping()) {
        results.set(e.container, { ...unmoved(e), result: 'not started', reason: 'the drain was interrupted before it started' });
        continue;
      }
      results.set(e.container, await r.move(e));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, r.parallel) }, worker));
  return plan.map((e) => results.get(e.container) ?? { ...unmoved(e), result: 'refused', reason: e.reason });
}

function unmoved(e: PlanEntry): MoveResult {
  return { container: e.container, destination: e.destinationNode, result: 'refused', reason: '', downtimeMs: 0, totalMs: 0, bytesWire: 0 };
}
