import { describe, expect, it } from 'vitest';
import { dumpArgs, externalMountPoints, lazyPagesDaemonArgs, mapExternalMounts, restoreArgs } from './criu-options';
import { parseMountInfo } from './mountinfo';
import { cgroupDirs, parseProcCgroup } from './proc-cgroup';

// Recorded from a busybox container on a cgroup v1 host (docker 20.10, overlay2).
const ID = '986d4444fd5c799537c80147808b38f26c76c81d754841a3bb968725cea07392';
const CONTAINER_MOUNTINFO = `80 52 0:39 / / rw,relatime master:6 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
81 80 0:42 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
82 80 0:43 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
85 84 0:46 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
86 85 0:29 /docker/${ID} /sys/fs/cgroup/cpu ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu
94 85 0:37 /docker/${ID} /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime - cgroup cgroup rw,name=systemd
97 80 254:0 /var/lib/docker/containers/${ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
98 80 254:0 /var/lib/docker/containers/${ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
99 80 254:0 /var/lib/docker/containers/${ID}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
100 80 254:0 /var/lib/docker/volumes/data/_data /data rw,relatime - ext4 /dev/vda rw
58 81 0:43 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755`;

const HOST_MOUNTINFO = `30 25 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
38 25 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
39 25 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

describe('criu options', () => {
  const mounts = parseMountInfo(CONTAINER_MOUNTINFO);

  it('declares Docker files, cgroup mounts and volumes external, nothing else', () => {
    expect(externalMountPoints(mounts, ['/data']).sort()).toEqual(
      ['/data', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/systemd'].sort(),
    );
  });

  it('builds the dump command line', () => {
    const args = dumpArgs({ pid: 42, imagesDir: '/img', netnsInode: 4026532,
      mounts, dockerMountTargets: [], freezerDir: '/sys/fs/cgroup/freezer/docker/abc', ttyKeys: [] });
    expect(args.slice(0, 3)).toEqual(['dump', '--tree', '42']);
    expect(args.join(' ')).toContain('--freeze-cgroup /sys/fs/cgroup/freezer/docker/abc --leave-running');
    expect(args).not.toContain('--leave-stopped'); // it would leave the network locked
    expect(args).toContain('--tcp-established');
    expect(args).toContain('--skip-in-flight');
    expect(args.join(' ')).toContain('--network-lock skip');
    expect(args).toContain('--manage-cgroups=ignore');
    expect(args.join(' ')).toContain('--external net[4026532]:extRootNetNS');
    expect(args.join(' ')).toContain('--external mnt[/etc/hosts]:/etc/hosts');
    expect(args.join(' ')).toContain('--external mnt[/sys/fs/cgroup/cpu]:/sys/fs/cgroup/cpu');
    expect(args.join(' ')).not.toContain('/proc/keys');
    expect(args).not.toContain('--page-server'); // pages written locally, followed as they grow
  });

  it('maps external mounts to the new container on the destination', () => {
    const keys = externalMountPoints(mounts, ['/data']);
    const dirs = cgroupDirs(parseProcCgroup(`1:cpu:/docker/NEW\n9:name=systemd:/docker/NEW\n0::/docker/NEW\n`),
      parseMountInfo(HOST_MOUNTINFO));
    expect(dirs.get('')).toBe('/sys/fs/cgroup/unified/docker/NEW');
    const map = mapExternalMounts(keys, mounts, {
      dockerFiles: { '/etc/hosts': '/d/NEW/hosts', '/etc/hostname': '/d/NEW/hostname', '/etc/resolv.conf': '/d/NEW/resolv.conf' },
      cgroupDirs: dirs,
      mountSources: { '/data': '/var/lib/docker/volumes/data/_data' },
    });
    expect(map.get('/sys/fs/cgroup/cpu')).toBe('/sys/fs/cgroup/cpu/docker/NEW');
    expect(map.get('/sys/fs/cgroup/systemd')).toBe('/sys/fs/cgroup/systemd/docker/NEW');
    expect(map.get('/etc/hosts')).toBe('/d/NEW/hosts');
    expect(map.get('/data')).toBe('/var/lib/docker/volumes/data/_data');
  });

  it('-t: the terminal is external on dump and a new one is inherited on restore; /dev/console becomes /dev/null', () => {
    const tty = parseMountInfo(`${CONTAINER_MOUNTINFO}\n101 82 0:50 /0 /dev/console rw,nosuid,noexec,relatime - devpts devpts rw,mode=600,ptmxmode=666`);
    const points = externalMountPoints(tty, []);
    expect(points).toContain('/dev/console');
    const dump = dumpArgs({ pid: 42, imagesDir: '/img', netnsInode: 1, mounts: tty, dockerMountTargets: [],
      freezerDir: '/f', ttyKeys: ['tty[8800:32]'] }).join(' ');
    expect(dump).toContain('--external tty[8800:32]');
    expect(dump).toContain('--external mnt[/dev/console]:/dev/console');
    const map = mapExternalMounts(['/dev/console'], tty, { dockerFiles: {}, cgroupDirs: new Map(), mountSources: {} });
    expect(map.get('/dev/console')).toBe('/dev/null');
    const restore = restoreArgs({ imagesDir: '/img', rootDir: '/merged', pidFile: '/img/pid', mountMap: map, netnsFd: 3,
      stdio: [{ key: 'tty[8800:32]', fd: 4 }], lazyPages: false }).join(' ');
    expect(restore).toContain('--inherit-fd fd[4]:tty[8800:32]');
    expect(restore).toContain('--external mnt[/dev/console]:/dev/null');
  });

  it('refuses a mount it cannot map', () => {
    expect(() => mapExternalMounts(['/weird'], mounts, { dockerFiles: {}, cgroupDirs: new Map(), mountSources: {} }))
      .toThrow(/cannot map the container's mount \/weird/);
  });

  it('builds the restore command line with inherited fds', () => {
    const args = restoreArgs({ imagesDir: '/img', rootDir: '/merged', pidFile: '/img/pid',
      mountMap: new Map([['/etc/hosts', '/d/hosts']]), netnsFd: 3,
      stdio: [{ key: 'pipe:[123]', fd: 4 }], lazyPages: false }).join(' ');
    expect(args).toContain('--restore-detached');
    expect(args).not.toContain('--lazy-pages');
    expect(args).toContain('--root /merged');
    expect(args).toContain('--tcp-close');
    expect(args).toContain('--network-lock skip');
    expect(args).toContain('--inherit-fd fd[3]:extRootNetNS');
    expect(args).toContain('--inherit-fd fd[4]:pipe:[123]');
    expect(args).toContain('--external mnt[/etc/hosts]:/d/hosts');
  });

  it('restores lazily when asked, served by a daemon on the same images', () => {
    const args = restoreArgs({ imagesDir: '/img', rootDir: '/merged', pidFile: '/img/pid',
      mountMap: new Map(), netnsFd: 3, stdio: [], lazyPages: true });
    expect(args).toContain('--lazy-pages');
    expect(lazyPagesDaemonArgs('/img').join(' ')).toBe('lazy-pages --images-dir /img --log-file lazy-pages.log -v2');
  });
});
