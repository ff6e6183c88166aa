// LIVEMIG_TRACE=1: timestamped data-path steps in the agent log, for finding where time goes.
// Epoch milliseconds to 0.1 ms, so that the two agents' lines of one host can be merged.
const enabled = Boolean(process.env.LIVEMIG_TRACE);

export function trace(step: string): void {
  if (enabled) console.error(`[trace ${(performance.timeOrigin + performance.now()).toFixed(1)}] ${step}`);
}
