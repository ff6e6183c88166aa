// What travels about a container besides its state: the config needed to recreate it, and the
// facts the destination needs to restore into it. Pure functions over `docker inspect` output.
import type { ContainerCreateOptions, ContainerInspect, EndpointSettings } from '../docker/docker-client';
import { SOURCE_SPEC_POLICY, hostConfigRefusal, specRefusal } from './spec-policy';

/** In-container path of the restore helper (a read-only bind mount of the host's binary). */
export const HELPER_IN_CONTAINER = '/.livemig/restore-init';
/**
 * Where Docker bind-mounts its init (tini) for `--init`, read-only, from the host's docker-init.
 * A migrated --init container gets the same mount from us (Docker's own Init would make tini the
 * container's PID 1, where the restore helper must be), and tini behind the helper on a restart.
 */
export const DOCKER_INIT_IN_CONTAINER = '/sbin/docker-init';
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

/** One network the container is on, as `docker run --network/--ip/--ip6/--network-alias` said. */
export interface NetworkSpec {
  name: string;
  /** The fixed address asked for (--ip); '' when Docker chose one. */
  ipv4Address: string;
  /** The fixed address asked for (--ip6); '' when Docker chose one. */
  ipv6Address: string;
  /** --network-alias, without the container ID Docker adds by itself. */
  aliases: string[];
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
  networks: NetworkSpec[];
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
  // A stopped one moves cold (nothing to freeze); one between states (restarting, removing, dead) waits.
  if (!c.State.Running && !movesCold(c)) throw new UnsupportedContainerError(`container ${name} is not running (${c.State.Status})`);
  if (c.State.Paused) throw new UnsupportedContainerError(`container ${name} is paused`);
  // The host powers a destination refuses, refused here too, before anything is frozen.
  const powers = hostConfigRefusal(hc, SOURCE_SPEC_POLICY);
  if (powers) refuse(powers.what);
  if (c.GraphDriver.Name !== 'overlay2') refuse(`the ${c.GraphDriver.Name} storage driver (only overlay2 is supported)`);
  const carried = specRefusal(specFromInspect(c, c.Config.Image), SOURCE_SPEC_POLICY);
  if (carried) refuse(carried.what);
}

/** A stopped container (`docker ps -a`: exited or created): it moves cold, created there, not started. */
export function movesCold(c: ContainerInspect): boolean {
  return !c.State.Running && (c.State.Status === 'exited' || c.State.Status === 'created');
}

/** The original entrypoint of a container, undoing our helper prefix on migrated containers. */
export function originalEntrypoint(entrypoint: string[] | null | undefined): string[] {
  return unwrapEntrypoint(entrypoint).entrypoint;
}

/**
 * The original entrypoint, and whether the container runs Docker's init: a migrated container
 * says so with tini between the helper and the command (its HostConfig.Init is false).
 */
function unwrapEntrypoint(entrypoint: string[] | null | undefined): { entrypoint: string[]; init: boolean } {
  const dropDashes = (e: string[]): string[] => (e[0] === '--' ? e.slice(1) : e);
  const e = entrypoint ?? [];
  if (e[0] !== HELPER_IN_CONTAINER) return { entrypoint: e, init: false };
  const behind = dropDashes(e.slice(1));
  if (behind[0] === DOCKER_INIT_IN_CONTAINER) return { entrypoint: dropDashes(behind.slice(1)), init: true };
  return { entrypoint: behind, init: false };
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
  'Init', 'ReadonlyRootfs',
];

type EndpointInspect = {
  IPAMConfig?: { IPv4Address?: string; IPv6Address?: string } | null;
  Aliases?: string[] | null;
};

interface HostMount {
  Type?: string;
  Target?: string;
  ReadOnly?: boolean;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/**
 * `--tmpfs` and `--mount type=tmpfs` as one `--tmpfs` map (path -> options), which is what the
 * destination creates (HostConfig.Mounts is not carried): CRIU restores the mounts and content
 * the application sees; this is the tmpfs a later restart of the container gets.
 */
function tmpfsOf(hc: HostConfig): Record<string, string> | undefined {
  const tmpfs: Record<string, string> = { ...((hc.Tmpfs as Record<string, string> | undefined) ?? {}) };
  for (const m of (hc.Mounts as HostMount[] | undefined) ?? []) {
    if (m.Type !== 'tmpfs' || !m.Target) continue;
    const o = m.TmpfsOptions ?? {};
    tmpfs[m.Target] = [
      ...(m.ReadOnly ? ['ro'] : []),
      ...(o.SizeBytes ? [`size=${o.SizeBytes}`] : []),
      ...(o.Mode !== undefined ? [`mode=${o.Mode.toString(8)}`] : []),
    ].join(',');
  }
  return Object.keys(tmpfs).length ? tmpfs : undefined;
}

/** The container's networks, with the addresses and aliases asked for (not those Docker chose). */
function networksOf(c: ContainerInspect): NetworkSpec[] {
  const ownAlias = c.Id.slice(0, 12); // Docker adds it to every user network: the new container has its own
  return Object.entries((c.NetworkSettings.Networks ?? {}) as Record<string, EndpointInspect>).map(([name, ep]) => ({
    name,
    ipv4Address: ep.IPAMConfig?.IPv4Address ?? '',
    ipv6Address: ep.IPAMConfig?.IPv6Address ?? '',
    aliases: (ep.Aliases ?? []).filter((a) => a !== ownAlias),
  }));
}

export function specFromInspect(c: ContainerInspect, imageRef: string): ContainerSpec {
  const cfg = c.Config;
  const hc = c.HostConfig as HostConfig;
  const hostConfig: Record<string, unknown> = {};
  for (const k of CARRIED_HOST_CONFIG) if (hc[k] !== undefined && hc[k] !== null) hostConfig[k] = hc[k];
  const { entrypoint, init } = unwrapEntrypoint(cfg.Entrypoint as string[] | null);
  if (init) hostConfig.Init = true;
  const tmpfs = tmpfsOf(hc);
  if (tmpfs) hostConfig.Tmpfs = tmpfs;
  const ours = new Set([HELPER_IN_CONTAINER, ...(init ? [DOCKER_INIT_IN_CONTAINER] : [])]);
  const mounts: MountSpec[] = (c.Mounts ?? [])
    .filter((m) => m.Type === 'volume' || m.Type === 'bind')
    .filter((m) => !ours.has(m.Destination))
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
    entrypoint,
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
    networks: networksOf(c),
    mounts,
  };
}

/** Docker's endpoint settings for one network: the fixed addresses and the aliases. */
export function endpointConfig(n: NetworkSpec): EndpointSettings {
  const ipam = {
    ...(n.ipv4Address ? { IPv4Address: n.ipv4Address } : {}),
    ...(n.ipv6Address ? { IPv6Address: n.ipv6Address } : {}),
  };
  return {
    ...(Object.keys(ipam).length ? { IPAMConfig: ipam } : {}),
    ...(n.aliases.length ? { Aliases: n.aliases } : {}),
  };
}

/** Host paths a destination supplies to the container it creates. */
export interface HostBinaries {
  /** The static restore helper. */
  helper: string;
  /** Docker's init (tini), for a container that ran with --init. */
  dockerInit?: string;
}

/**
 * Create options for the container a migration restores into: the original config, with the
 * helper as entrypoint in front of the original command, so that a later `docker restart`
 * runs the original command fresh. It joins the first network here, the others before its start
 * (Docker 20.10 takes one network at create).
 */
/**
 * A cold move's container (a stopped one, created, not started): as on the source, its own
 * entrypoint and Docker's own --init, so that a later `docker start` runs it fresh.
 */
export function coldCreateOptionsFor(spec: ContainerSpec, image: string): ContainerCreateOptions {
  const live = createOptionsFor({ ...spec, hostConfig: { ...spec.hostConfig, Init: false } }, { helper: HELPER_IN_CONTAINER }, image);
  return {
    ...live,
    Entrypoint: spec.entrypoint,
    HostConfig: {
      ...live.HostConfig,
      Init: spec.hostConfig.Init === true,
      Mounts: (live.HostConfig?.Mounts ?? []).filter((m) => m.Target !== HELPER_IN_CONTAINER),
    },
  };
}

export function createOptionsFor(spec: ContainerSpec, bins: HostBinaries, image: string): ContainerCreateOptions {
  const first = spec.networks[0];
  const network = first?.name ?? 'bridge';
  const init = spec.hostConfig.Init === true;
  if (init && !bins.dockerInit) throw new Error('docker-init is needed for an --init container');
  const initMount = init ? [{ Type: 'bind', Source: bins.dockerInit, Target: DOCKER_INIT_IN_CONTAINER, ReadOnly: true }] : [];
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
    // With --init, tini runs behind the helper: the helper must be PID 1, where the restored tree
    // (tini and its child) is re-parented when criu exits.
    Entrypoint: [HELPER_IN_CONTAINER, '--', ...(init ? [DOCKER_INIT_IN_CONTAINER, '--'] : []), ...spec.entrypoint],
    Cmd: spec.cmd,
    // The helper holds the new pts or stdin pipe until the restore hands it to the tree.
    Tty: spec.config.Tty ?? false,
    OpenStdin: spec.config.OpenStdin ?? false,
    StdinOnce: spec.config.StdinOnce ?? false,
    AttachStdin: false,
    HostConfig: {
      ...spec.hostConfig,
      Init: false,
      NetworkMode: network,
      Mounts: [
        ...volumeMounts,
        ...initMount,
        { Type: 'bind', Source: bins.helper, Target: HELPER_IN_CONTAINER, ReadOnly: true },
      ],
    } as ContainerCreateOptions['HostConfig'],
    ...(first ? { NetworkingConfig: { EndpointsConfig: { [first.name]: endpointConfig(first) } } } : {}),
  };
}
