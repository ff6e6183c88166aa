import { describe, expect, it } from 'vitest';
import type { HealthReply } from '../rpc/messages';
import { compatRefusal, doctorLines, missingCpuFlags } from './host-compat';
import { cpuFlags } from './host-facts';

const GIB = 1024 ** 3;
function host(nodeName: string, o: Partial<HealthReply> = {}): HealthReply {
  return {
    agentVersion: '0.1.0', protocolVersion: 7, nodeName, criuVersion: '4.2.1', criuCheckOk: true, criuCheckMessage: 'Looks good.',
    dockerVersion: '20.10.24', dockerApiVersion: '1.41', kernel: '6.1.0-18-amd64', cgroupMode: 'v2', lazyPages: true,
    memoryAvailableBytes: 8 * GIB, diskAvailableBytes: 50 * GIB, criuFeatures: ['uffd', 'uffd-noncoop'], storageDriver: 'overlay2',
    cpuFlags: ['fpu', 'sse4_2', 'avx2', 'hypervisor'], clockMs: 0, imageIds: ['sha256:aaa'], ...o,
  };
}
const verdicts = (lines: ReturnType<typeof doctorLines>): Record<string, string> => Object.fromEntries(lines.map((l) => [l.fact, l.verdict]));

describe('missingCpuFlags', () => {
  it('names the user-space flags the destination lacks, not kernel or hypervisor facts', () => {
    expect(missingCpuFlags(['fpu', 'avx512f', 'avx2', 'hypervisor', 'constant_tsc', 'sha_ni'], ['fpu', 'avx2'])).toEqual(['avx512f', 'sha_ni']);
    expect(missingCpuFlags(['sse2'], ['sse2', 'avx'])).toEqual([]);
  });

  it('reads the flags line of /proc/cpuinfo (x86) and the Features line (arm64)', () => {
    expect(cpuFlags('processor\t: 0\nflags\t\t: fpu vme sse2 avx2\n')).toEqual(['fpu', 'vme', 'sse2', 'avx2']);
    expect(cpuFlags('processor\t: 0\nFeatures\t: fp asimd sve\n')).toEqual(['fp', 'asimd', 'sve']);
  });
});

describe('doctorLines', () => {
  it('passes two alike hosts, every line ok', () => {
    const lines = doctorLines({ source: host('a'), destination: host('b'), clockSkewMs: 20, neededImageIds: ['sha256:aaa'] });
    expect(lines.map((l) => l.fact)).toEqual(['kernel', 'criu', 'criu features', 'docker', 'storage driver', 'cgroup', 'cpu flags', 'free memory', 'free disk', 'clock skew', 'base images']);
    expect(lines.filter((l) => l.verdict !== 'ok')).toEqual([]);
    expect(lines.every((l) => l.hint === '')).toBe(true);
  });

  it('blocks on missing CPU flags, another cgroup version, another storage driver, a failing criu', () => {
    const v = verdicts(doctorLines({
      source: host('a', { cpuFlags: ['avx512f', 'avx2'] }),
      destination: host('b', { cpuFlags: ['avx2'], cgroupMode: 'v1', storageDriver: 'vfs', criuCheckOk: false }),
      clockSkewMs: 0, neededImageIds: [],
    }));
    expect(v).toMatchObject({ 'cpu flags': 'block', cgroup: 'block', 'storage driver': 'block', criu: 'block' });
  });

  it('warns, with a hint, on what does not stop a restore', () => {
    const lines = doctorLines({
      source: host('a', { criuFeatures: ['uffd', 'uffd-noncoop', 'timens'] }),
      destination: host('b', { kernel: '5.10.0-28-amd64', criuVersion: '3.17.1', dockerVersion: '24.0.7', memoryAvailableBytes: 100 * 1024 ** 2, diskAvailableBytes: GIB / 2, imageIds: [] }),
      clockSkewMs: -2500, neededImageIds: ['sha256:aaa'],
    });
    expect(verdicts(lines)).toMatchObject({ kernel: 'warn', criu: 'warn', 'criu features': 'warn', docker: 'warn', 'free memory': 'warn', 'free disk': 'warn', 'clock skew': 'warn', 'base images': 'warn' });
    expect(lines.find((l) => l.fact === 'criu features')?.destination).toBe('lacks timens');
    expect(lines.find((l) => l.fact === 'clock skew')?.destination).toBe('-2.500 s');
    expect(lines.filter((l) => l.verdict === 'warn').every((l) => l.hint.length > 0)).toBe(true);
  });
});

describe('compatRefusal', () => {
  it('is one line naming what blocks, for the push before the freeze', () => {
    const r = compatRefusal({ nodeName: 'a', cpuFlags: ['avx512f', 'avx2'], cgroupMode: 'v2', storageDriver: 'overlay2' },
      { nodeName: 'b', cpuFlags: ['avx2'], cgroupMode: 'v2', storageDriver: 'overlay2' });
    expect(r).toMatch(/^cpu flags: b lacks avx512f \(a: 2 flags\): .*SIGILL/);
    expect(r).not.toMatch(/\n/);
  });

  it('does not refuse an agent that reports no CPU flags or storage driver (an earlier version)', () => {
    expect(compatRefusal({ nodeName: 'a', cpuFlags: ['avx2'], cgroupMode: 'v2', storageDriver: 'overlay2' }, { nodeName: 'b', cpuFlags: [], cgroupMode: 'v2', storageDriver: '' })).toBe('');
  });
});
