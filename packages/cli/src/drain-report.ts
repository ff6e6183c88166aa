// What drain prints: the plan, a line per move as it starts and ends, and the report.
import { formatBytes } from './format-summary';
import type { PlanEntry } from './drain-plan';
import type { MoveResult } from './drain-run';

export interface DrainTotals {
  selected: number;
  moved: number;
  failed: number;
  refused: number;
  notStarted: number;
  /** The longest downtime of one container (each is frozen on its own). */
  maxDowntimeMs: number;
  /** The drain's wall time, plan included. */
  totalMs: number;
  bytesWire: number;
}

export function totalsOf(results: readonly MoveResult[], totalMs: number): DrainTotals {
  const count = (r: MoveResult['result']): number => results.filter((x) => x.result === r).length;
  return {
    selected: results.length,
    moved: count('moved'),
    failed: count('failed'),
    refused: count('refused'),
    notStarted: count('not started'),
    maxDowntimeMs: Math.max(0, ...results.map((r) => r.downtimeMs)),
    totalMs,
    bytesWire: results.reduce((n, r) => n + r.bytesWire, 0),
  };
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_c, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

export function formatPlan(plan: readonly PlanEntry[], notes: readonly string[]): string {
  if (!plan.length) return ['plan: no container of this host matches', ...notes].join('\n');
  const rows = [['CONTAINER', 'DESTINATION', 'MEMORY', 'DISK', 'PLAN'],
    ...plan.map((e) => [e.container, e.destinationNode || '-', formatBytes(e.memoryBytes), formatBytes(e.diskBytes), e.verdict === 'refused' ? `refused: ${e.reason}` : e.verdict])];
  return ['plan:', ...table(rows).map((l) => `  ${l}`), ...notes.map((n) => `  note: ${n}`)].join('\n');
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(3)} s`;

export function formatMoveStart(e: PlanEntry, elapsedMs: number): string {
  return `[${(elapsedMs / 1000).toFixed(2).padStart(7)}s] ${e.container} -> ${e.destinationNode}: start`;
}

export function formatMoveEnd(r: MoveResult, elapsedMs: number): string {
  const what = r.result === 'moved'
    ? `done, downtime ${secs(r.downtimeMs)}, total ${secs(r.totalMs)}, ${formatBytes(r.bytesWire)}`
    : `failed (it runs on this host): ${r.reason}`;
  return `[${(elapsedMs / 1000).toFixed(2).padStart(7)}s] ${r.container} -> ${r.destination}: ${what}`;
}

export function formatReport(results: readonly MoveResult[], t: DrainTotals, remaining: readonly string[]): string {
  const rows = [['CONTAINER', 'DESTINATION', 'RESULT', 'DOWNTIME', 'TOTAL', 'BYTES'],
    ...results.map((r) => [r.container, r.destination || '-', r.reason ? `${r.result}: ${r.reason}` : r.result,
      r.result === 'moved' ? secs(r.downtimeMs) : '-', r.result === 'moved' ? secs(r.totalMs) : '-', r.result === 'moved' ? formatBytes(r.bytesWire) : '-'])];
  // The reason is long: it goes last on its line, after the numbers.
  const moved = table(rows.map((r) => [r[0], r[1], r[3], r[4], r[5], r[2]]));
  return [
    ...moved,
    `totals: ${t.moved} of ${t.selected} moved, ${t.failed} failed, ${t.refused} refused, ${t.notStarted} not started; ` +
      `longest downtime ${secs(t.maxDowntimeMs)}, drain ${secs(t.totalMs)}, ${formatBytes(t.bytesWire)} on the wire`,
    remaining.length ? `still on this host: ${remaining.join(', ')}` : 'this host is empty of the selected containers',
  ].join('\n');
}
