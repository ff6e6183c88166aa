import fs from 'node:fs';
import os from 'node:os';

export type CgroupMode = 'v1' | 'v2' | 'hybrid';

/** cgroup v2 when /sys/fs/cgroup is cgroup2 itself; v1 (or hybrid) when it is a tmpfs of controllers. */
export function cgroupMode(): CgroupMode {
  if (fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  return fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? 'hybrid' : 'v1';
}

export function kernelRelease(): string {
  return os.release();
}

/** Memory the kernel says new work can have without swapping (MemAvailable), in bytes. */
export function memoryAvailableBytes(meminfo = fs.readFileSync('/proc/meminfo', 'utf8')): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : os.freemem();
}

/** Free bytes (for unprivileged users too) of the filesystem holding `dir`. */
export function diskAvailableBytes(dir: string): number {
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize;
}

let flags: string[] | undefined;

/** The CPU's feature flags as /proc/cpuinfo lists them (the first CPU's: they are all alike). */
export function cpuFlags(cpuinfo?: string): string[] {
  if (cpuinfo === undefined && flags) return flags;
  const text = cpuinfo ?? fs.readFileSync('/proc/cpuinfo', 'utf8');
  const line = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text)?.[1] ?? '';
  const out = line.split(/\s+/).filter(Boolean);
  if (cpuinfo === undefined) flags = out;
  return out;
}
