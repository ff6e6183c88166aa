import type { ProgressEvent } from '@livemig/core';
import { formatBytes } from './format-summary';

/** One self-rewriting line on a terminal: bytes, percentage, rate, ETA. Silent elsewhere. */
export class ProgressBar {
  private started = 0;
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(p: ProgressEvent): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (!this.started) this.started = now;
    this.out.write(`\r\x1b[2K${renderProgress(p, (now - this.started) / 1000)}`);
    this.shown = true;
  }

  /** Clears the line so that the next message starts clean. */
  clear(): void {
    if (this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
    this.started = 0;
  }
}

export function renderProgress(p: ProgressEvent, seconds: number, width = 24): string {
  const rate = seconds > 0 ? p.bytesRaw / seconds : 0;
  const total = p.bytesRawTotal > 0 ? Math.max(p.bytesRawTotal, p.bytesRaw) : 0;
  const parts = [`${p.phase || 'transfer'} ${formatBytes(p.bytesRaw)}`];
  if (total > 0) {
    const frac = Math.min(1, p.bytesRaw / total);
    const filled = Math.round(frac * width);
    parts.push(`/ ${formatBytes(total)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0)}%`);
  }
  parts.push(`${formatBytes(rate)}/s`, `wire ${formatBytes(p.bytesWire)}`);
  if (total > 0 && rate > 0) parts.push(`ETA ${Math.max(0, (total - p.bytesRaw) / rate).toFixed(0)}s`);
  return parts.join('  ');
}
