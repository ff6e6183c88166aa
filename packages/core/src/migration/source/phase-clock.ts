import type { PushEvent } from '../../rpc/messages';

/** A push's phases as they start and end: events for the CLI, and each phase's time for the summary. */
export class PhaseClock {
  readonly t0 = performance.now();
  readonly phaseMs: Record<string, number> = {};
  private readonly started = new Map<string, number>(); // dump and transfer overlap

  constructor(private readonly emit: (ev: PushEvent) => void) {}

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
    this.emit({ body: 'phase', phase: { name, state, elapsedMs: now - this.t0, detail } });
  }
}
