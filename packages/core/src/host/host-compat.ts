// Whether a container checkpointed on one host can run on another: the facts two agents report
// (Health), compared line by line with a verdict and what to do about it. `migrate-cli doctor`
// prints every line; a push refuses on the blocking ones before anything is frozen.
import type { HealthReply } from '../rpc/messages';

export type Verdict = 'ok' | 'warn' | 'block';

export interface CompatLine {
  fact: string;
  source: string;
  destination: string;
  verdict: Verdict;
  hint: string; // what to do ('' when ok)
}

/**
 * CPU flags a user-space program may use without asking the kernel: a process restored where
 * one is missing dies of SIGILL at its next such instruction (podman issue 17496). The rest of
 * /proc/cpuinfo's flags (kernel and hypervisor facts) do not matter to a restored process.
 */
const ISA_FLAG = /^(mmx|sse|ssse3|avx|fma|f16c|bmi|adx|aes|vaes|pclmulqdq|vpclmulqdq|gfni|sha|popcnt|movbe|abm|lzcnt|rdrand|rdseed|cx16|xsave|erms|fsrm|clflushopt|clwb|amx|waitpkg|serialize|movdir|avx512|asimd|sve|atomics|crc32|pmull|sha[123]|sha512|sm[34]|fphp|asimdhp|dcpop|lrcpc|ilrcpc|flagm|uscat|bf16|i8mm)/;

/** The user-space CPU flags `from` has and `to` lacks, sorted. */
export function missingCpuFlags(from: readonly string[], to: readonly string[]): string[] {
  const have = new Set(to);
  return [...new Set(from)].filter((f) => ISA_FLAG.test(f) && !have.has(f)).sort();
}

/** The facts a push compares before the freeze: the source's own and the destination's Health. */
export type CompatFacts = Pick<HealthReply, 'nodeName' | 'cpuFlags' | 'cgroupMode' | 'storageDriver'>;

/** The blocking differences only, for the push's pre-flight; [] when none. */
export function blockingLines(src: CompatFacts, dst: CompatFacts): CompatLine[] {
  const lines: CompatLine[] = [];
  // An agent of an earlier version reports neither: unknown is a warning, not a refusal.
  const unknown = (fact: string, hint: string): CompatLine => ({ fact, source: '', destination: 'unknown (an agent that does not report it)', verdict: 'warn', hint });
  const missing = missingCpuFlags(src.cpuFlags, dst.cpuFlags);
  if (!dst.cpuFlags.length) lines.push({ ...unknown('cpu flags', 'upgrade its agent to compare CPU flags'), source: `${src.cpuFlags.length} flags` });
  else lines.push({
    fact: 'cpu flags', source: `${src.cpuFlags.length} flags`, destination: missing.length ? `lacks ${missing.join(' ')}` : 'has every user-space flag of the source',
    verdict: missing.length ? 'block' : 'ok',
    hint: missing.length ? `a restored process may use them and die of SIGILL: move to a host with the same CPU features (VMs: give both the same CPU model)` : '',
  });
  lines.push({
    fact: 'cgroup', source: src.cgroupMode, destination: dst.cgroupMode,
    verdict: src.cgroupMode === dst.cgroupMode ? 'ok' : 'block',
    hint: src.cgroupMode === dst.cgroupMode ? '' : 'a checkpoint restores into the same cgroup layout only: boot both hosts with the same cgroup version (systemd.unified_cgroup_hierarchy)',
  });
  const overlay = (d: string): boolean => d === 'overlay2';
  if (!dst.storageDriver) lines.push({ ...unknown('storage driver', 'upgrade its agent to compare storage drivers'), source: src.storageDriver });
  else lines.push({
    fact: 'storage driver', source: src.storageDriver, destination: dst.storageDriver,
    verdict: overlay(src.storageDriver) && overlay(dst.storageDriver) ? 'ok' : 'block',
    hint: overlay(src.storageDriver) && overlay(dst.storageDriver) ? '' : 'migrations carry overlay2 upper dirs: set "storage-driver": "overlay2" in /etc/docker/daemon.json',
  });
  return lines;
}

/** The push's refusal, or '' when nothing blocks. */
export function compatRefusal(src: CompatFacts, dst: CompatFacts): string {
  const b = blockingLines(src, dst).filter((l) => l.verdict === 'block');
  return b.map((l) => `${l.fact}: ${dst.nodeName} ${l.destination} (${src.nodeName}: ${l.source}): ${l.hint}`).join('; ');
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const size = (n: number): string => (n >= GIB ? `${(n / GIB).toFixed(1)} GiB` : `${(n / MIB).toFixed(0)} MiB`);
const majorMinor = (v: string): string => v.split('.').slice(0, 2).join('.');

export interface DoctorInput {
  source: HealthReply;
  destination: HealthReply;
  /** The destination's clock minus the source's, ms. */
  clockSkewMs: number;
  /** Image IDs of the source's running containers (each must be on the destination). */
  neededImageIds: readonly string[];
}

/** Every line `migrate-cli doctor` prints for a source and a destination. */
export function doctorLines(d: DoctorInput): CompatLine[] {
  const { source: s, destination: t } = d;
  const line = (fact: string, source: string, destination: string, verdict: Verdict, hint: string): CompatLine =>
    ({ fact, source, destination, verdict, hint: verdict === 'ok' ? '' : hint });
  const criuOk = (h: HealthReply): boolean => Boolean(h.criuVersion) && h.criuCheckOk;
  const lacks = s.criuFeatures.filter((f) => !t.criuFeatures.includes(f));
  const images = d.neededImageIds.filter((i) => !t.imageIds.includes(i));
  const skew = Math.abs(d.clockSkewMs);
  const [cpu, cgroup, storage] = blockingLines(s, t);
  return [
    line('kernel', s.kernel, t.kernel, majorMinor(s.kernel) === majorMinor(t.kernel) ? 'ok' : 'warn',
      'CRIU restores across kernels, but a newer feature of the source\'s kernel may be missing there: prefer the same kernel'),
    line('criu', s.criuVersion ? `${s.criuVersion} (check ${s.criuCheckOk ? 'ok' : 'FAILS'})` : 'missing', t.criuVersion ? `${t.criuVersion} (check ${t.criuCheckOk ? 'ok' : 'FAILS'})` : 'missing',
      !criuOk(s) || !criuOk(t) ? 'block' : s.criuVersion === t.criuVersion ? 'ok' : 'warn',
      !criuOk(s) || !criuOk(t) ? 'install CRIU (scripts/setup.sh) and run `criu check` as root until it says "Looks good."' : 'use the same CRIU version on both hosts: images of a newer CRIU may not restore with an older one'),
    line('criu features', `${s.criuFeatures.length} of the checked`, lacks.length ? `lacks ${lacks.join(' ')}` : `${t.criuFeatures.length} of the checked`, lacks.length ? 'warn' : 'ok',
      'a dump using these cannot restore there (e.g. uffd-noncoop: no lazy restore): same kernel config and CRIU version on both'),
    line('docker', s.dockerVersion, t.dockerVersion, s.dockerVersion.split('.')[0] === t.dockerVersion.split('.')[0] ? 'ok' : 'warn',
      'different major Docker versions may create the target container differently: align them'),
    storage, cgroup, cpu,
    line('free memory', size(s.memoryAvailableBytes), size(t.memoryAvailableBytes), t.memoryAvailableBytes >= 512 * MIB ? 'ok' : 'warn',
      'under 512 MiB available: larger containers will not fit; free memory there or choose another host'),
    line('free disk', size(s.diskAvailableBytes), size(t.diskAvailableBytes), t.diskAvailableBytes >= GIB ? 'ok' : 'warn',
      'under 1 GiB free in Docker\'s data root: file systems and checkpoints may not fit'),
    line('clock skew', '-', `${d.clockSkewMs >= 0 ? '+' : '-'}${(skew / 1000).toFixed(3)} s`, skew <= 1000 ? 'ok' : 'warn',
      'over 1 s apart: timers and logs jump when a container moves; run NTP (chrony, systemd-timesyncd) on both'),
    line('base images', `${d.neededImageIds.length} in use`, images.length ? `lacks ${images.map((i) => i.replace(/^sha256:/, '').slice(0, 12)).join(' ')}` : 'all present', images.length ? 'warn' : 'ok',
      'a push of a container whose image is missing there is refused: docker pull (or load) the same image ID there'),
  ];
}
