import { describe, expect, it } from 'vitest';
import type { Summary } from '@livemig/core';
import { formatSummary } from './format-summary';

const summary = (o: Partial<Summary>): Summary => ({
  container: 'c', sourceNode: 'node1', destinationNode: 'node2', destinationContainerId: '0123456789abcdef', downtimeMs: 0, totalMs: 1234,
  bytesRaw: 2048, bytesWire: 1024, precopyBytesRaw: 0, precopyBytesWire: 0, pagesReused: 0, pagesSent: 0, criuImageBytes: 0, rootfsBytes: 0,
  volumeBytes: 0, phaseMs: {}, sourceKept: false, sourceCleanupError: '', compressLevel: 1, pipelined: true, lazyPages: false,
  diskRounds: [{ bytesRaw: 2048, bytesWire: 1024, fileBytes: 2000, deleted: 1, ms: 5 }], frozenBytesRaw: 0, frozenBytesWire: 0, ...o,
});

describe('formatSummary', () => {
  it('says a cold move was created there, not started, without a downtime or memory lines', () => {
    const text = formatSummary(summary({ cold: true }));
    expect(text).toMatch(/^moved c cold \(stopped\) from node1 to node2 \(container 0123456789ab, created, not started\)/);
    expect(text).toContain('files and volumes 1.95 KiB');
    expect(text).not.toMatch(/downtime|pre-copy/);
  });

  it('keeps the live summary for a live push', () => {
    expect(formatSummary(summary({ cold: false }))).toMatch(/downtime \(frozen\): 0\.000 s/);
  });
});
