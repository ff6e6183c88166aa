import { describe, expect, it } from 'vitest';
import { renderProgress } from './progress-bar';

describe('renderProgress', () => {
  it('shows bytes, percentage, rate and ETA', () => {
    const line = renderProgress({ bytesRaw: 256 * 1024 * 1024, bytesWire: 128 * 1024 * 1024, bytesRawTotal: 1024 * 1024 * 1024, phase: 'transfer' }, 2, 8);
    expect(line).toBe('transfer 256.0 MiB  / 1.00 GiB [##......] 25%  128.0 MiB/s  wire 128.0 MiB  ETA 6s');
  });

  it('names the phase: the pre-copy runs before the freeze', () => {
    expect(renderProgress({ bytesRaw: 2048, bytesWire: 1024, bytesRawTotal: 0, phase: 'precopy' }, 1)).toBe('precopy 2.00 KiB  2.00 KiB/s  wire 1.00 KiB');
  });

  it('copes with an unknown total', () => {
    expect(renderProgress({ bytesRaw: 2048, bytesWire: 1024, bytesRawTotal: 0, phase: 'transfer' }, 1)).toBe('transfer 2.00 KiB  2.00 KiB/s  wire 1.00 KiB');
  });
});
