import { describe, expect, it } from 'vitest';
import type { ContainerInspect } from '../docker/docker-client';
import recorded from './testdata/busybox-inspect.json';
import {
  HELPER_IN_CONTAINER,
  checkSupported,
  createOptionsFor,
  isRestoredContainer,
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
    ['--init', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => { c.HostConfig.Init = true; }],
    ['--read-only', (c: ContainerInspect & { HostConfig: Record<string, unknown> }) => { c.HostConfig.ReadonlyRootfs = true; }],
  ])('refuses %s, naming it', (what, patch) => {
    expect(() => checkSupported(inspect(patch))).toThrow(new RegExp(`uses .*${what.replace(/[-]/g, '\\-')}.*cannot be migrated`));
  });

  it('refuses a stopped container', () => {
    expect(() => checkSupported(inspect((c) => { c.State.Running = false; c.State.Status = 'exited'; })))
      .toThrow(/is not running \(exited\)/);
  });
});

describe('container spec', () => {
  it('recreates the original command behind the helper, and undoes that on the next move', () => {
    const spec = specFromInspect(inspect(), 'busybox:latest');
    expect(spec.cmd).toEqual(['sleep', '100']);
    const opts = createOptionsFor(spec, '/opt/restore-init', 'busybox:latest');
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
    expect(createOptionsFor(plain, '/opt/restore-init', 'busybox:latest')).toMatchObject({ Tty: false, OpenStdin: false, StdinOnce: false });

    const it = inspect((c) => Object.assign(c.Config, { Tty: true, OpenStdin: true, StdinOnce: true }));
    expect(() => checkSupported(it)).not.toThrow();
    const spec = specFromInspect(it, 'busybox:latest');
    expect(spec.config).toMatchObject({ Tty: true, OpenStdin: true, StdinOnce: true });
    // The helper is created with the terminal and the stdin pipe the restore hands to the tree.
    expect(createOptionsFor(spec, '/opt/restore-init', 'busybox:latest')).toMatchObject({ Tty: true, OpenStdin: true, StdinOnce: true, AttachStdin: false });
  });
});
