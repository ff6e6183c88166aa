// What travels about a container besides its state: the config needed to recreate it, and the
// facts the destination needs to restore into it. Pure functions over `docker inspect` output.
import type { ContainerCreateOptions, ContainerInspect } from '../docker/docker-client';
import { SOURCE_SPEC_POLICY, hostConfigRefusal, specRefusal } from './spec-policy';

/** In-container path of the restore helper (a read-only bind mount of the host's binary). */
export const HELPER_IN_CONTAINER = '/.livemig/restore-init';
/** Set in the new container's filesystem before start: "this start restores a migration". */
export const RESTORE_MARKER = '.livemig-restore-pending';
/** Paths in a container's upper dir that belong to us, never to the application. */
export const INTERNAL_PATHS = ['.livemig', RESTORE_MARKER];
/**
 * CRIU's own temporaries in a container's filesystem: criu dump makes /tmp/cr-tmpfs.XXXXXX in the
 * container's mount namespace to open a mount that has others on top of it (its /dev, its
 * cgroup tmpfs), and removes it again, while the frozen rootfs is being read.
 */
export const CRIU_TEMPORARIES = /^tmp\/cr-tmpfs\.[A-Za-z0-9]{6}$/;

export const SPEC_VERSION = 1;

export interface MountSpec {
  type: 'volume' | 'bind';
  name: string;         // volume name ('' for binds)
  source: string;       // host path on the source
  destination: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  specVersion: number;
  name: string;
  imageId: string;
  imageRef: string;
  /** Docker's effective config of the original command (entrypoint and cmd as Docker ran them). */
  entrypoint: string[];
  cmd: string[];
  config: {
    Hostname: string;
    Domainname: string;
    User: string;
    Env: string[];
    WorkingDir: string;
    Labels: Record<string, string>;
    ExposedPorts: Record<string, object>;
    StopSignal?: string;
    StopTimeout?: number;
    Healthcheck?: object;
    /** -t, -i, and whether stdin closes when the first attached client detaches (docker run -i in the foreground) */
    Tty?: boolean;
    OpenStdin?: boolean;
    StdinOnce?: boolean;
  };
  hostConfig: Record<string, unknown>;
  networks: string[];
  mounts: MountSpec[];
}

export class UnsupportedContainerError extends Error {}

type HostConfig = ContainerInspect['HostConfig'] & Record<string, unknown>;

/** Refuses what cannot be migrated, naming the feature; returns nothing when all is fine. */
export function checkSupported(c: ContainerInspect): void {
  const name = c.Name.replace(/^\//, '');
  const hc = c.HostConfig as HostConfig;
  const refuse = (what: string): never => {
    throw new UnsupportedContainerError(`container ${name} uses ${what}, which cannot be migrated`);
  };
  if (!c.State.Running) throw new UnsupportedContainerError(`container ${name} is not running (${c.State.Status})`);
  if (c.State.Paused) throw new UnsupportedContainerError(`container ${name} is paused`);
  // The host powers a destination refuses, refused here too, before anything is frozen.
  const powers = hostConfigRefusal(hc, SOURCE_SPEC_POLICY);
  if (powers) refuse(powers.what);
  if (hc.Init) refuse('--init');
  if (hc.ReadonlyRootfs) refuse('a read-only root filesystem (--read-only)');
  if (c.GraphDriver.Name !== 'overlay2') refuse(`the ${c.GraphDriver.Name} storage driver (only overlay2 is supported)`);
  const nets = Object.keys(c.NetworkSettings.Networks ?? {});
  if (nets.length > 1) refuse(`${nets.length} networks`);
  const carried = specRefusal(specFromInspect(c, c.Config.Image), SOURCE_SPEC_POLICY);
  if (carried) refuse(carried.what);
}

/** The original entrypoint of a container, undoing our helper prefix on migrated containers. */
export function originalEntrypoint(entrypoint: string[] | null | undefined): string[] {
  const e = entrypoint ?? [];
  if (e[0] === HELPER_IN_CONTAINER) return e[1] === '--' ? e.slice(2) : e.slice(1);
  return e;
}

/** True when the container was itself made by a migration: its PID 1 is our helper. */
export function isRestoredContainer(c: ContainerInspect): boolean {
  return c.Path === HELPER_IN_CONTAINER;
}

/**
 * Host config fields carried to the destination (the rest is host-specific or Docker's own); a
 * destination refuses a spec with any other (spec-policy.ts).
 */
export const CARRIED_HOST_CONFIG: readonly string[] = [
  'PortBindings', 'RestartPolicy', 'Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus',
  'CpuShares', 'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight',
  'CapAdd', 'CapDrop', 'SecurityOpt', 'Tmpfs', 'ShmSize', 'Ulimits', 'Sysctls', 'LogConfig',
  'Dns', 'DnsSearch', 'DnsOptions', 'ExtraHosts', 'OomScoreAdj', 'OomKillDisable', 'GroupAdd',
  'PublishAllPorts', 'AutoRemove', 'MaskedPaths', 'ReadonlyPaths', 'CgroupnsMode', 'IpcMode',
];

export function specFromInspect(c: ContainerInspect, imageRef: string): ContainerSpec {
  const cfg = c.Config;
  const hc = c.HostConfig as HostConfig;
  const hostConfig: Record<string, unknown> = {};
  for (const k of CARRIED_HOST_CONFIG) if (hc[k] !== undefined && hc[k] !== null) hostConfig[k] = hc[k];
  const mounts: MountSpec[] = (c.Mounts ?? [])
    .filter((m) => m.Type === 'volume' || m.Type === 'bind')
    .filter((m) => m.Destination !== HELPER_IN_CONTAINER)
    .map((m) => ({
      type: m.Type as 'volume' | 'bind',
      name: m.Name ?? '',
      source: m.Source,
      destination: m.Destination,
      readOnly: !m.RW,
    }));
  const cfgx = cfg as typeof cfg & { StopSignal?: string; StopTimeout?: number; Healthcheck?: object; Tty?: boolean; OpenStdin?: boolean; StdinOnce?: boolean };
  return {
    specVersion: SPEC_VERSION,
    name: c.Name.replace(/^\//, ''),
    imageId: c.Image,
    imageRef,
    entrypoint: originalEntrypoint(cfg.Entrypoint as string[] | null),
    cmd: (cfg.Cmd as string[] | null) ?? [],
    config: {
      Hostname: cfg.Hostname,
      Domainname: cfg.Domainname,
      User: cfg.User,
      Env: cfg.Env ?? [],
      WorkingDir: cfg.WorkingDir,
      Labels: cfg.Labels ?? {},
      ExposedPorts: cfg.ExposedPorts ?? {},
      ...(cfgx.StopSignal ? { StopSignal: cfgx.StopSignal } : {}),
      ...(cfgx.StopTimeout !== undefined ? { StopTimeout: cfgx.StopTimeout } : {}),
      ...(cfgx.Healthcheck ? { Healthcheck: cfgx.Healthcheck } : {}),
      // Only when set: a spec without them is one an older destination accepts.
      ...(cfgx.Tty ? { Tty: true } : {}),
      ...(cfgx.OpenStdin ? { OpenStdin: true } : {}),
      ...(cfgx.StdinOnce ? { StdinOnce: true } : {}),
    },
    hostConfig,
    networks: Object.keys(c.NetworkSettings.Networks ?? {}),
    mounts,
  };
}

/**
 * Create options for the container a migration restores into: the original config, with the
 * helper as entrypoint in front of the original command, so that a later `docker restart`
 * runs the original command fresh.
 */
export function createOptionsFor(spec: ContainerSpec, helperHostPath: string, image: string): ContainerCreateOptions {
  const network = spec.networks[0] ?? 'bridge';
  const volumeMounts = spec.mounts.map((m) => ({
    Type: m.type,
    Source: m.type === 'volume' ? m.name : m.source,
    Target: m.destination,
    ReadOnly: m.readOnly,
  }));
  return {
    name: spec.name,
    Image: image,
    ...spec.config,
    Entrypoint: [HELPER_IN_CONTAINER, '--', ...spec.entrypoint],
    Cmd: spec.cmd,
    // The helper holds the new pts or stdin pipe until the restore hands it to the tree.
    Tty: spec.config.Tty ?? false,
    OpenStdin: spec.config.OpenStdin ?? false,
    StdinOnce: spec.config.StdinOnce ?? false,
    AttachStdin: false,
    HostConfig: {
      ...spec.hostConfig,
      NetworkMode: network,
      Mounts: [
        ...volumeMounts,
        { Type: 'bind', Source: helperHostPath, Target: HELPER_IN_CONTAINER, ReadOnly: true },
      ],
    } as ContainerCreateOptions['HostConfig'],
  };
}
