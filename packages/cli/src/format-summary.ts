import { compressName, type PhaseEvent, type Summary } from '@livemig/core';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatPhase(p: PhaseEvent): string {
  const t = `[${(p.elapsedMs / 1000).toFixed(2).padStart(6)}s]`;
  return p.state === 'start' ? `${t} ${p.name}...` : `${t} ${p.name} done${p.detail ? `: ${p.detail}` : ''}`;
}

const PHASE_ORDER = ['preflight', 'disk', 'precopy', 'dump', 'transfer', 'restore', 'lazy-pages', 'cleanup'];
const DESTINATION_PHASES = ['destination-receive', 'criu-restore'];

/** A cold move: a stopped container's files and volumes, created there, not started. */
function formatColdSummary(s: Summary): string {
  const files = s.diskRounds.reduce((n, r) => n + r.fileBytes, 0);
  return [
    `moved ${s.container} cold (stopped) from ${s.sourceNode} to ${s.destinationNode} (container ${s.destinationContainerId.slice(0, 12)}, created, not started)`,
    `  total: ${(s.totalMs / 1000).toFixed(3)} s; files and volumes ${formatBytes(files)}, ${formatBytes(s.bytesWire)} on the wire (${compressName(s.compressLevel)})`,
    s.sourceCleanupError
      ? `  source: NOT cleaned up: ${s.sourceCleanupError} (the agent on ${s.sourceNode} finishes it at its next start)`
      : `  source: ${s.sourceKept ? 'kept, stopped' : 'removed'}`,
  ].join('\n');
}

export function formatSummary(s: Summary): string {
  if (s.cold) return formatColdSummary(s);
  const phases = PHASE_ORDER.filter((p) => p in s.phaseMs)
    .map((p) => `${p} ${s.phaseMs[p].toFixed(0)} ms`)
    .join(', ');
  const ratio = s.bytesWire > 0 ? (s.bytesRaw / s.bytesWire).toFixed(2) : '-';
  return [
    `moved ${s.container} from ${s.sourceNode} to ${s.destinationNode} (container ${s.destinationContainerId.slice(0, 12)})`,
    `  downtime (frozen): ${(s.downtimeMs / 1000).toFixed(3)} s   total: ${(s.totalMs / 1000).toFixed(3)} s`,
    `  moved: memory images ${formatBytes(s.criuImageBytes)}, filesystem diff ${formatBytes(s.rootfsBytes)}, volumes ${formatBytes(s.volumeBytes)}`,
    `  bytes: ${formatBytes(s.bytesRaw)} raw, ${formatBytes(s.bytesWire)} on the wire (${compressName(s.compressLevel)}, ratio ${ratio}${s.pipelined ? '; pages sent during the dump' : ''})`,
    s.precopyBytesRaw > 0
      ? `  pre-copy: ${formatBytes(s.precopyBytesRaw)} of memory sent while running (${formatBytes(s.precopyBytesWire)} on the wire); frozen: ` +
        `${formatBytes(s.frozenBytesWire)} on the wire, ${s.pagesReused} pages reused, ${s.pagesSent} changed or new`
      : '  pre-copy: none (all memory sent while frozen)',
    s.diskRounds.length > 0
      ? `  disk rounds while running: ${s.diskRounds.map((r, i) => `#${i + 1} ${formatBytes(r.fileBytes)}${r.deleted ? ` (${r.deleted} deleted)` : ''}`).join(', ')}; ` +
        `frozen: ${formatBytes(s.rootfsBytes + s.volumeBytes)} of file data`
      : '  disk rounds: none (the filesystem diff and volumes sent while frozen)',
    `  phases: ${phases}${s.pipelined ? ' (dump and transfer overlap)' : ''}`,
    `  destination: ${DESTINATION_PHASES.filter((p) => p in s.phaseMs).map((p) => `${p.replace('destination-', '')} ${s.phaseMs[p].toFixed(0)} ms`).join(', ')}` +
      (s.lazyPages ? ' (lazy restore: running there during lazy-pages)' : ''),
    s.sourceCleanupError
      ? `  source: NOT cleaned up: ${s.sourceCleanupError} (the agent on ${s.sourceNode} finishes it at its next start)`
      : `  source: ${s.sourceKept ? 'kept, stopped' : 'removed'}`,
  ].join('\n');
}
