import type { PushEvent } from '../../rpc/messages';
import { trace } from '../../util/trace';

/** A push's phases as they start and end: events for the CLI, and each phase's time for the summary. */
export class PhaseClock {
  readonly t0 = performance.now();
  readonly phaseMs: Record<string, number> = {};
  private readonly started = new Map<string, number>(); // dump and transfer overlap

  /** @param label names the push in trace lines (pushes in parallel interleave them) */
  constructor(private readonly emit: (ev: PushEvent) => void, private readonly label = '') {}

  start(name: string, detail = ''): void {
    this.mark(name, 'start', detail);
  }

  done(name: string, detail = ''): void {
    this.mark(name, 'done', detail);
  }

  private mark(name: string, state: 'start' | 'done', detail: string): void {
    const now = performance.now();
    if (state === 'start') this.started.set(name, now);
    else this.phaseMs[name] = now - (this.started.get(name) ?? now);
    trace(`src ${this.label}: ${name} ${state}${state === 'done' ? ` ${this.phaseMs[name].toFixed(0)} ms` : ''}`);
    this.emit({ body: 'phase', phase: { name, state, elapsedMs: now - this.t0, detail } });
  }
}
