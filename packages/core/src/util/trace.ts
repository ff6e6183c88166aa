// LIVEMIG_TRACE=1: timestamped data-path steps in the agent log, for finding where time goes.
const enabled = Boolean(process.env.LIVEMIG_TRACE);
const t0 = Date.now();

export function trace(step: string): void {
  if (enabled) console.error(`[trace ${Date.now()} +${Date.now() - t0}ms] ${step}`);
}
