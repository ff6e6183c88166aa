import { cgroupControllers, type MountInfo } from './mountinfo';

/** One line of /proc/PID/cgroup: hierarchy id, controllers ('' for the v2 hierarchy), path. */
export interface CgroupMembership {
  controllers: string[];
  path: string;
}

export function parseProcCgroup(text: string): CgroupMembership[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const first = l.indexOf(':');
      const second = l.indexOf(':', first + 1);
      const ctl = l.slice(first + 1, second);
      return { controllers: ctl ? ctl.split(',').sort() : [], path: l.slice(second + 1) };
    });
}

/**
 * Host directories of a process's cgroups, one per mounted hierarchy, given the host's
 * mountinfo: for cgroup v1 the controller's mount + path, for v2 the cgroup2 mount + path.
 */
export function cgroupDirs(memberships: CgroupMembership[], hostMounts: MountInfo[]): Map<string, string> {
  const dirs = new Map<string, string>(); // key: controllers joined ('' = v2) -> host dir
  for (const m of memberships) {
    const key = m.controllers.join(',');
    const mount = hostMounts.find((hm) =>
      key === '' ? hm.fsType === 'cgroup2' : hm.fsType === 'cgroup' && cgroupControllers(hm).join(',') === key,
    );
    if (!mount) continue; // hierarchy not mounted on the host (nothing to join or map)
    const rel = m.path.startsWith(mount.root) ? m.path.slice(mount.root.length) : m.path;
    dirs.set(key, `${mount.mountPoint}/${rel}`.replace(/\/+/g, '/').replace(/\/$/, ''));
  }
  return dirs;
}
