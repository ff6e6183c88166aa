import { describe, expect, it } from 'vitest';
import type { ContainerInspect } from '../docker/docker-client';
import recorded from './testdata/busybox-inspect.json';
import {
  HELPER_IN_CONTAINER,
  DOCKER_INIT_IN_CONTAINER,
  checkSupported,
  coldCreateOptionsFor,
  createOptionsFor,
  endpointConfig,
  isRestoredContainer,
  movesCold,
  originalEntrypoint,
  specFromInspect,
} from './container-spec';

// `docker inspect` of `docker run -d busybox:latest sleep 100` (docker 20.10, overlay2).
function inspect(patch: (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => void = () => undefined): ContainerInspect {
  const c = structuredClone(recorded) as unknown as ContainerInspect & { HostConfig: Record<string, unknown> };
  patch(c);
  return c;
}

describe('checkSupported', () => {
  it('accepts a plain running container', () => {
    expect(() => checkSupported(inspect())).not.toThrow();
  });

  it.each([
    ['--privileged', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => { c.HostConfig.Privileged = true; }],
    ['--network host', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => { c.HostConfig.NetworkMode = 'host'; }],
    ['--pid host', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => { c.HostConfig.PidMode = 'host'; }],
    ['--ipc host', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => { c.HostConfig.IpcMode = 'host'; }],
    ['devices', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => {
      c.HostConfig.Devices = [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }];
    }],
  ])('refuses %s, naming it', (what, patch) => {
    expect(() => checkSupported(inspect(patch))).toThrow(new RegExp(`uses .*${what.replace(/[-]/g, '\\-')}.*cannot be migrated`));
  });

  it('accepts a stopped container (exited or created: it moves cold), refuses one between states', () => {
    for (const status of ['exited', 'created']) {
      const stopped = inspect((c) => { c.State.Running = false; c.State.Status = status; });
      expect(() => checkSupported(stopped)).not.toThrow();
      expect(movesCold(stopped)).toBe(true);
    }
    expect(movesCold(inspect())).toBe(false);
    for (const status of ['dead', 'removing', 'restarting']) {
      expect(() => checkSupported(inspect((c) => { c.State.Running = false; c.State.Status = status; })))
        .toThrow(new RegExp(`is not running \\(${status}\\)`));
    }
  });
});

describe('container spec', () => {
  it('recreates the original command behind the helper, and undoes that on the next move', () => {
    const spec = specFromInspect(inspect(), 'busybox:latest');
    expect(spec.cmd).toEqual(['sleep', '100']);
    const opts = createOptionsFor(spec, { helper: '/opt/restore-init' }, 'busybox:latest');
    expect(opts.Entrypoint).toEqual([HELPER_IN_CONTAINER, '--']);
    expect(opts.Cmd).toEqual(['sleep', '100']);
    expect(opts.Hostname).toBe(recorded.Config.Hostname);
    const mounts = (opts.HostConfig as { Mounts: Array<{ Target: string; ReadOnly: boolean }> }).Mounts;
    expect(mounts).toContainEqual(expect.objectContaining({ Target: HELPER_IN_CONTAINER, ReadOnly: true }));

    const moved = inspect((c) => {
      c.Path = HELPER_IN_CONTAINER;
      c.Config.Entrypoint = opts.Entrypoint as string[];
    });
    expect(isRestoredContainer(moved)).toBe(true);
    expect(specFromInspect(moved, 'busybox:latest').entrypoint).toEqual([]);
    expect(originalEntrypoint([HELPER_IN_CONTAINER, '--', '/entry.sh'])).toEqual(['/entry.sh']);
  });

  it('carries -t, -i and stdin-once into the new container, and leaves them out when unset', () => {
    const plain = specFromInspect(inspect(), 'busybox:latest');
    expect(plain.config).not.toHaveProperty('Tty');
    expect(createOptionsFor(plain, { helper: '/opt/restore-init' }, 'busybox:latest')).toMatchObject({ Tty: false, OpenStdin: false, StdinOnce: false });

    const it = inspect((c) => Object.assign(c.Config, { Tty: true, OpenStdin: true, StdinOnce: true }));
    expect(() => checkSupported(it)).not.toThrow();
    const spec = specFromInspect(it, 'busybox:latest');
    expect(spec.config).toMatchObject({ Tty: true, OpenStdin: true, StdinOnce: true });
    // The helper is created with the terminal and the stdin pipe the restore hands to the tree.
    expect(createOptionsFor(spec, { helper: '/opt/restore-init' }, 'busybox:latest')).toMatchObject({ Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: false });
  });
});

describe('cold create (a stopped container)', () => {
  it('creates it with its own command and Docker\'s own --init, without the restore helper', () => {
    const spec = specFromInspect(inspect((c) => { c.HostConfig.Init = true; c.Config.Entrypoint = ['/entry.sh']; }), 'busybox:latest');
    const opts = coldCreateOptionsFor(spec, 'busybox:latest');
    expect(opts.Entrypoint).toEqual(['/entry.sh']);
    expect(opts.Cmd).toEqual(['sleep', '100']);
    const hc = opts.HostConfig as { Init: boolean; Mounts: Array<{ Target: string }> };
    expect(hc.Init).toBe(true);
    expect(hc.Mounts.map((m) => m.Target)).not.toContain(HELPER_IN_CONTAINER);
    expect(hc.Mounts.map((m) => m.Target)).not.toContain(DOCKER_INIT_IN_CONTAINER);

    // A container moved live earlier (helper entrypoint): its original command, fresh.
    const live = createOptionsFor(specFromInspect(inspect(), 'busybox:latest'), { helper: '/opt/restore-init' }, 'busybox:latest');
    const moved = specFromInspect(inspect((c) => { c.Path = HELPER_IN_CONTAINER; c.Config.Entrypoint = live.Entrypoint as string[]; }), 'busybox:latest');
    expect(coldCreateOptionsFor(moved, 'busybox:latest')).toMatchObject({ Entrypoint: [], Cmd: ['sleep', '100'] });
  });
});

describe('--init', () => {
  it('runs tini behind the helper, from the host\'s docker-init, and reads that back as --init', () => {
    const spec = specFromInspect(inspect((c) => { c.HostConfig.Init = true; }), 'busybox:latest');
    expect(spec.hostConfig.Init).toBe(true);
    expect(() => createOptionsFor(spec, { helper: '/opt/restore-init' }, 'busybox:latest')).toThrow(/docker-init/);
    const opts = createOptionsFor(spec, { helper: '/opt/restore-init', dockerInit: '/usr/bin/tini-static' }, 'busybox:latest');
    expect(opts.Entrypoint).toEqual([HELPER_IN_CONTAINER, '--', DOCKER_INIT_IN_CONTAINER, '--']);
    const hc = opts.HostConfig as { Init: boolean; Mounts: Array<{ Source: string; Target: string; ReadOnly: boolean }> };
    expect(hc.Init).toBe(false); // Docker's own would put tini where the helper must be: PID 1
    expect(hc.Mounts).toContainEqual({ Type: 'bind', Source: '/usr/bin/tini-static', Target: DOCKER_INIT_IN_CONTAINER, ReadOnly: true });

    const moved = inspect((c) => {
      c.Path = HELPER_IN_CONTAINER;
      c.Config.Entrypoint = opts.Entrypoint as string[];
      c.Mounts = [{ Type: 'bind', Source: '/usr/bin/tini-static', Destination: DOCKER_INIT_IN_CONTAINER, RW: false } as ContainerInspect['Mounts'][number]];
    });
    const again = specFromInspect(moved, 'busybox:latest');
    expect(again.hostConfig.Init).toBe(true);
    expect(again.entrypoint).toEqual([]);
    expect(again.mounts).toEqual([]);
  });
});

describe('networks', () => {
  it('carries fixed addresses and aliases, without the ID alias Docker adds, and asks for them again', () => {
    const c = inspect((x) => {
      x.NetworkSettings.Networks = {
        app: { IPAMConfig: { IPv4Address: '172.31.78.50' }, Aliases: [x.Id.slice(0, 12), 'web'] },
        back: { IPAMConfig: null, Aliases: null },
      } as unknown as ContainerInspect['NetworkSettings']['Networks'];
    });
    const spec = specFromInspect(c, 'busybox:latest');
    expect(spec.networks).toEqual([
      { name: 'app', ipv4Address: '172.31.78.50', ipv6Address: '', aliases: ['web'] },
      { name: 'back', ipv4Address: '', ipv6Address: '', aliases: [] },
    ]);
    expect(() => checkSupported(c)).not.toThrow();
    const opts = createOptionsFor(spec, { helper: '/opt/restore-init' }, 'busybox:latest');
    expect(opts.HostConfig?.NetworkMode).toBe('app');
    expect(opts.NetworkingConfig).toEqual({ EndpointsConfig: { app: { IPAMConfig: { IPv4Address: '172.31.78.50' }, Aliases: ['web'] } } });
    expect(endpointConfig(spec.networks[1])).toEqual({});
  });
});

describe('tmpfs', () => {
  it('carries --mount type=tmpfs as --tmpfs, next to those given as --tmpfs', () => {
    const spec = specFromInspect(inspect((c) => {
      c.HostConfig.Tmpfs = { '/run': 'size=8m' };
      c.HostConfig.Mounts = [
        { Type: 'tmpfs', Source: '', Target: '/cache', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } },
        { Type: 'tmpfs', Source: '', Target: '/empty', ReadOnly: true },
        { Type: 'volume', Source: 'v', Target: '/data' },
      ];
    }), 'busybox:latest');
    expect(spec.hostConfig.Tmpfs).toEqual({ '/run': 'size=8m', '/cache': 'size=1048576,mode=1777', '/empty': 'ro' });
    expect(spec.hostConfig.Mounts).toBeUndefined();
  });
});
