/** One line of /proc/PID/mountinfo. */
export interface MountInfo {
  id: number;
  parentId: number;
  root: string;       // path inside the mounted filesystem that is mounted here
  mountPoint: string; // where, as the reading process sees it
  fsType: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = line.split(' - ');
    if (right === undefined) throw new Error(`malformed mountinfo line: ${line}`);
    const f = left.split(' ');
    const [fsType, source, superOpts] = right.split(' ');
    mounts.push({
      id: Number(f[0]),
      parentId: Number(f[1]),
      root: unescape(f[3]),
      mountPoint: unescape(f[4]),
      fsType,
      source: unescape(source ?? ''),
      superOptions: (superOpts ?? '').split(','),
    });
  }
  return mounts;
}

/** The controllers (or name=...) a cgroup v1 mount carries, e.g. ["cpu","cpuacct"]; [] for cgroup2. */
export function cgroupControllers(m: MountInfo): string[] {
  if (m.fsType !== 'cgroup') return [];
  return m.superOptions.filter((o) => o !== 'rw' && o !== 'ro').sort();
}
