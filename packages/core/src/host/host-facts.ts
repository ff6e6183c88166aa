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
