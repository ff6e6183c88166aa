// What a host agrees to run. The destination creates its container from the spec that arrives in
// Prepare; the peer that sends it is authenticated, but that is no reason to give its container
// the host (a spec can ask for the host's PID namespace, `/` bind-mounted, SYS_ADMIN, no
// seccomp). One policy, applied by the destination to the spec it receives and by the source to
// the container it is asked to push, so that the source refuses the same things before the freeze.
//
// container-spec.ts imports this module and this module imports values from it: both only use
// the other's values inside functions, never while loading, so the import cycle is harmless.
import net from 'node:net';
import path from 'node:path';
import { CARRIED_HOST_CONFIG, HELPER_IN_CONTAINER, UnsupportedContainerError, type ContainerSpec } from './container-spec';

/** What the operator of a host lets migrated containers have beyond the default confinement. */
export interface SpecPolicyOptions {
  /** Host paths under which bind mounts may be made ('/' = anywhere). Default: none. */
  allowBindPrefixes: readonly string[];
  /** Capabilities beyond Docker's defaults a container may add ('ALL' = any). Default: none. */
  allowCaps: readonly string[];
}

export const DEFAULT_SPEC_POLICY: SpecPolicyOptions = { allowBindPrefixes: [], allowCaps: [] };

/**
 * What the source checks with: binds and extra capabilities are the destination operator's
 * choice (the destination refuses them at Prepare, still before the freeze), not the source's.
 */
export const SOURCE_SPEC_POLICY: SpecPolicyOptions = { allowBindPrefixes: ['/'], allowCaps: ['ALL'] };

/** A field of the spec the policy refuses, and what it asks for, in docker's words. */
export interface Refusal {
  field: string;
  what: string;
}

/** Docker's default capabilities: adding them again changes nothing. */
const DOCKER_DEFAULT_CAPS = new Set([
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP',
  'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
]);

/** Namespaced sysctls (Docker's list): they change the container's namespaces, not the host. */
const SAFE_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall',
  'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);
const SAFE_SYSCTL_PREFIXES = ['fs.mqueue.', 'net.']; // net.*: the container's own network namespace (host network is refused)

/**
 * Paths Docker has masked or made read-only by default for years: a spec that sets these lists
 * without them unmasks the host's kernel memory, keys, firmware or sysctls.
 */
const REQUIRED_MASKED = ['/proc/kcore', '/proc/keys', '/sys/firmware'];
const REQUIRED_READONLY = ['/proc/sys', '/proc/sysrq-trigger'];

/** Docker's names: containers, volumes, networks. */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const SPEC_KEYS = ['specVersion', 'name', 'imageId', 'imageRef', 'entrypoint', 'cmd', 'config', 'hostConfig', 'networks', 'mounts'];
const CONFIG_KEYS = ['Hostname', 'Domainname', 'User', 'Env', 'WorkingDir', 'Labels', 'ExposedPorts', 'StopSignal', 'StopTimeout', 'Healthcheck',
  'Tty', 'OpenStdin', 'StdinOnce'];
const CONFIG_FLAGS = ['Tty', 'OpenStdin', 'StdinOnce'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : null;
}

/** A namespace setting: '' / the container's own is fine, the host's or another container's is not. */
function namespaceRefusal(field: string, value: unknown, flag: string, own: readonly string[]): Refusal | undefined {
  const v = value ?? '';
  return typeof v === 'string' && own.includes(v) ? undefined : { field, what: `${flag} ${String(v)}` };
}

/** A network to join (a NetworkMode, or a spec's network): a bridge or user network, by name. */
function networkRefusal(field: string, mode: unknown): Refusal | undefined {
  const m = String(mode ?? 'default');
  if (m === 'host') return { field, what: 'the host network namespace (--network host)' };
  if (m === 'none') return { field, what: '--network none' };
  if (m.startsWith('container:')) return { field, what: `another container's network namespace (--network ${m})` };
  return DOCKER_NAME.test(m) ? undefined : { field, what: `network "${m}" (not a network name)` };
}

function capRefusal(caps: unknown, o: SpecPolicyOptions): Refusal | undefined {
  if (caps === undefined || caps === null) return undefined;
  const list = strings(caps);
  if (!list) return { field: 'CapAdd', what: 'a CapAdd that is not a list of capabilities' };
  const allowed = new Set(o.allowCaps.map(capName));
  if (allowed.has('ALL')) return undefined;
  const extra = list.map(capName).find((c) => !DOCKER_DEFAULT_CAPS.has(c) && !allowed.has(c));
  return extra === undefined ? undefined : { field: 'CapAdd', what: `--cap-add ${extra} (a destination allows it with --allow-cap ${extra})` };
}

/** "cap_sys_admin" -> "SYS_ADMIN", as Docker reads them. */
function capName(c: string): string {
  return c.toUpperCase().replace(/^CAP_/, '');
}

/** Security options that switch confinement off; no-new-privileges, labels and named profiles are fine. */
function securityOptRefusal(opts: unknown): Refusal | undefined {
  if (opts === undefined || opts === null) return undefined;
  const list = strings(opts);
  if (!list) return { field: 'SecurityOpt', what: 'a SecurityOpt that is not a list' };
  for (const opt of list) {
    const [key, value = ''] = opt.split(/[=:](.*)/s);
    const refused =
      (key === 'seccomp' && value !== 'builtin') || // unconfined, or a profile's JSON: it may allow anything
      (key === 'apparmor' && value === 'unconfined') ||
      (key === 'label' && value === 'disable') ||
      (key === 'systempaths' && value === 'unconfined') ||
      !['seccomp', 'apparmor', 'label', 'systempaths', 'no-new-privileges'].includes(key);
    if (refused) return { field: 'SecurityOpt', what: `--security-opt ${opt.length > 60 ? `${opt.slice(0, 60)}...` : opt}` };
  }
  return undefined;
}

function pathsRefusal(field: 'MaskedPaths' | 'ReadonlyPaths', value: unknown, required: readonly string[]): Refusal | undefined {
  if (value === undefined || value === null) return undefined;
  const list = strings(value);
  const missing = list ? required.find((p) => !list.includes(p)) : required[0];
  return missing === undefined ? undefined : { field, what: `${field} without ${missing} (less confinement than Docker's default)` };
}

function sysctlRefusal(sysctls: unknown): Refusal | undefined {
  if (sysctls === undefined || sysctls === null) return undefined;
  if (!isRecord(sysctls)) return { field: 'Sysctls', what: 'Sysctls that are not a map' };
  const unsafe = Object.keys(sysctls).find((k) => !SAFE_SYSCTLS.has(k) && !SAFE_SYSCTL_PREFIXES.some((p) => k.startsWith(p)));
  return unsafe === undefined ? undefined : { field: 'Sysctls', what: `--sysctl ${unsafe} (not a namespaced sysctl)` };
}

/**
 * What a host config asks for that gives a container more of the host than Docker's default
 * confinement: the first such field, or undefined. Takes a whole `docker inspect` HostConfig (the
 * source) or a spec's carried subset (the destination).
 */
export function hostConfigRefusal(hc: Record<string, unknown>, o: SpecPolicyOptions): Refusal | undefined {
  if (hc.Privileged) return { field: 'Privileged', what: '--privileged' };
  const devices = hc.Devices;
  if (devices !== undefined && devices !== null && !(Array.isArray(devices) && devices.length === 0)) {
    return { field: 'Devices', what: 'devices (--device)' };
  }
  // CgroupnsMode host: Docker's default on cgroup v1 hosts (the lab's); the container still sees
  // only its own cgroup, mounted read-only. Refusing it would refuse every container there.
  return (hc.NetworkMode === undefined ? undefined : networkRefusal('NetworkMode', hc.NetworkMode))
    ?? namespaceRefusal('PidMode', hc.PidMode, '--pid', [''])
    ?? namespaceRefusal('IpcMode', hc.IpcMode, '--ipc', ['', 'private', 'shareable', 'none'])
    ?? namespaceRefusal('UTSMode', hc.UTSMode, '--uts', [''])
    ?? namespaceRefusal('UsernsMode', hc.UsernsMode, '--userns', [''])
    ?? namespaceRefusal('CgroupnsMode', hc.CgroupnsMode, '--cgroupns', ['', 'private', 'host'])
    ?? capRefusal(hc.CapAdd, o)
    ?? securityOptRefusal(hc.SecurityOpt)
    ?? pathsRefusal('MaskedPaths', hc.MaskedPaths, REQUIRED_MASKED)
    ?? pathsRefusal('ReadonlyPaths', hc.ReadonlyPaths, REQUIRED_READONLY)
    ?? sysctlRefusal(hc.Sysctls);
}

/** Where a mount may go: a named volume, or a bind of a host path under an allowed prefix. */
function mountRefusal(m: unknown, i: number, o: SpecPolicyOptions): Refusal | undefined {
  const field = `mounts[${i}]`;
  if (!isRecord(m)) return { field, what: 'a mount that is not an object' };
  const target = typeof m.destination === 'string' ? m.destination : '';
  if (!path.posix.isAbsolute(target) || path.posix.normalize(target) !== target || target === '/') {
    return { field, what: `a mount at "${target}" (not a normalized absolute path)` };
  }
  const helperDir = path.posix.dirname(HELPER_IN_CONTAINER);
  if (target === helperDir || target.startsWith(`${helperDir}/`)) return { field, what: `a mount at ${target}, the restore helper's path` };
  if (m.type === 'volume') {
    const name = typeof m.name === 'string' ? m.name : '';
    return DOCKER_NAME.test(name) ? undefined : { field, what: `volume "${name}" (not a volume name)` };
  }
  if (m.type !== 'bind') return { field, what: `a mount of type ${String(m.type)} (only volumes and binds are carried)` };
  const source = typeof m.source === 'string' ? m.source : '';
  if (!path.posix.isAbsolute(source) || path.posix.normalize(source) !== source) {
    return { field, what: `a bind of "${source}" (not a normalized absolute path)` };
  }
  const allowed = o.allowBindPrefixes.some((prefix) => {
    const p = prefix.replace(/\/+$/, '');
    return p === '' || source === p || source.startsWith(`${p}/`);
  });
  return allowed ? undefined : { field, what: `a bind mount of ${source} (a destination allows it with --allow-bind PREFIX)` };
}

/** The most networks a container may join here (Docker has no limit; a spec is a request). */
const MAX_NETWORKS = 8;
const NETWORK_KEYS = ['name', 'ipv4Address', 'ipv6Address', 'aliases'];
/** A DNS name, as Docker's embedded DNS answers for an alias. */
const ALIAS = /^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,252})$/;

/** One network to join: by name, with at most a fixed address of each family and DNS aliases. */
function networkSpecRefusal(n: unknown, i: number): Refusal | undefined {
  const field = `networks[${i}]`;
  if (!isRecord(n)) return { field, what: 'a network that is not an object' };
  const key = unknownKey(n, NETWORK_KEYS);
  if (key !== undefined) return { field: `${field}.${key}`, what: `a network field "${key}" that a container spec does not have` };
  const named = networkRefusal(field, n.name);
  if (named) return named;
  if (n.ipv4Address !== '' && !net.isIPv4(String(n.ipv4Address))) return { field, what: `--ip ${String(n.ipv4Address)} (not an IPv4 address)` };
  if (n.ipv6Address !== '' && !net.isIPv6(String(n.ipv6Address))) return { field, what: `--ip6 ${String(n.ipv6Address)} (not an IPv6 address)` };
  const aliases = strings(n.aliases);
  const bad = aliases ? aliases.find((a) => !ALIAS.test(a)) : '';
  return bad === undefined ? undefined : { field, what: `--network-alias ${bad ?? ''} (not a DNS name)` };
}

/** Keys of an object outside an allow-list: the first one. */
function unknownKey(obj: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  return Object.keys(obj).find((k) => !allowed.includes(k));
}

/** The first field of a container spec (what Prepare carries) that this host will not run. */
export function specRefusal(spec: ContainerSpec, o: SpecPolicyOptions): Refusal | undefined {
  const s = spec as unknown as Record<string, unknown>;
  if (!isRecord(s)) return { field: 'spec', what: 'a spec that is not an object' };
  const key = unknownKey(s, SPEC_KEYS);
  if (key !== undefined) return { field: key, what: `a field "${key}" that a container spec does not have` };
  if (typeof s.name !== 'string' || !DOCKER_NAME.test(s.name)) return { field: 'name', what: `container name "${String(s.name)}" (not a container name)` };
  if (!strings(s.entrypoint) || !strings(s.cmd)) return { field: 'cmd', what: 'an entrypoint or cmd that is not a list of strings' };
  if (!isRecord(s.config)) return { field: 'config', what: 'a config that is not an object' };
  const configKey = unknownKey(s.config, CONFIG_KEYS);
  if (configKey !== undefined) return { field: `config.${configKey}`, what: `config field ${configKey} (not one a migration carries)` };
  const config = s.config;
  const flag = CONFIG_FLAGS.find((k) => config[k] !== undefined && typeof config[k] !== 'boolean');
  if (flag !== undefined) return { field: `config.${flag}`, what: `config field ${flag} that is not true or false` };
  if (!isRecord(s.hostConfig)) return { field: 'hostConfig', what: 'a hostConfig that is not an object' };
  // The known powers first, by name; then anything else a migration does not carry.
  const hc = hostConfigRefusal(s.hostConfig, o);
  if (hc) return { field: `hostConfig.${hc.field}`, what: hc.what };
  const hostKey = unknownKey(s.hostConfig, CARRIED_HOST_CONFIG);
  if (hostKey !== undefined) return { field: `hostConfig.${hostKey}`, what: `host config field ${hostKey} (not one a migration carries)` };
  if (!Array.isArray(s.networks) || s.networks.length > MAX_NETWORKS) return { field: 'networks', what: `networks that are not a list of at most ${MAX_NETWORKS}` };
  const names = s.networks.map((n) => (isRecord(n) ? n.name : undefined));
  if (new Set(names).size !== names.length) return { field: 'networks', what: 'a network listed twice' };
  const badNet = s.networks.map((n, i) => networkSpecRefusal(n, i)).find(Boolean);
  if (badNet) return badNet;
  if (!Array.isArray(s.mounts)) return { field: 'mounts', what: 'mounts that are not a list' };
  return s.mounts.map((m, i) => mountRefusal(m, i, o)).find(Boolean);
}

/** Throws, naming the field in one line, when this host will not run the spec. */
export function checkSpecPolicy(spec: ContainerSpec, o: SpecPolicyOptions, where: string): void {
  const r = specRefusal(spec, o);
  if (r) throw new UnsupportedContainerError(`container spec refused ${where}: ${r.field}: ${r.what}`);
}
