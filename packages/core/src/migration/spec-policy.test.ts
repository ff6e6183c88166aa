import { describe, expect, it } from 'vitest';
import type { ContainerInspect } from '../docker/docker-client';
import recorded from './testdata/busybox-inspect.json';
import { HELPER_IN_CONTAINER, UnsupportedContainerError, checkSupported, specFromInspect, type ContainerSpec, type NetworkSpec } from './container-spec';
import { DEFAULT_SPEC_POLICY, SOURCE_SPEC_POLICY, checkSpecPolicy, specRefusal, type SpecPolicyOptions } from './spec-policy';

/** The spec of `docker run -d busybox:latest sleep 100` (docker 20.10), patched. */
function spec(patch: (s: ContainerSpec & Record<string, unknown>) => void = () => undefined): ContainerSpec {
  const s = specFromInspect(structuredClone(recorded) as unknown as ContainerInspect, 'busybox:latest') as ContainerSpec & Record<string, unknown>;
  patch(s);
  return s;
}

const onNet = (name: string): NetworkSpec => ({ name, ipv4Address: '', ipv6Address: '', aliases: [] });
const hostile = (patch: Record<string, unknown>) => (s: ContainerSpec): void => { Object.assign(s.hostConfig, patch); };

describe('spec policy', () => {
  it('passes the spec of a plain container, on both sides', () => {
    expect(specRefusal(spec(), DEFAULT_SPEC_POLICY)).toBeUndefined();
    expect(specRefusal(spec(), SOURCE_SPEC_POLICY)).toBeUndefined();
  });

  it('passes what the lab pushes: ports, restart policy, limits, a named volume, default caps, no-new-privileges', () => {
    const s = spec((x) => {
      Object.assign(x.hostConfig, {
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
        Memory: 67108864, CapAdd: ['NET_BIND_SERVICE', 'cap_chown'], SecurityOpt: ['no-new-privileges:true', 'apparmor=docker-default'],
        Sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' },
      });
      x.mounts = [{ type: 'volume', name: 'webdata', source: '/var/lib/docker/volumes/webdata/_data', destination: '/data', readOnly: false }];
    });
    expect(specRefusal(s, DEFAULT_SPEC_POLICY)).toBeUndefined();
  });

  it.each([
    ['hostConfig.Privileged', hostile({ Privileged: true }), /--privileged/],
    ['hostConfig.PidMode', hostile({ PidMode: 'host' }), /--pid host/],
    ['hostConfig.IpcMode', hostile({ IpcMode: 'host' }), /--ipc host/],
    ['hostConfig.IpcMode', hostile({ IpcMode: 'container:abc' }), /--ipc container:abc/],
    ['hostConfig.UTSMode', hostile({ UTSMode: 'host' }), /--uts host/],
    ['hostConfig.UsernsMode', hostile({ UsernsMode: 'host' }), /--userns host/],
    ['hostConfig.CgroupnsMode', hostile({ CgroupnsMode: 'container:x' }), /--cgroupns container:x/],
    ['hostConfig.NetworkMode', hostile({ NetworkMode: 'host' }), /the host network namespace/],
    ['hostConfig.Devices', hostile({ Devices: [{ PathOnHost: '/dev/sda' }] }), /devices \(--device\)/],
    ['hostConfig.Binds', hostile({ Binds: ['/:/host'] }), /host config field Binds \(not one a migration carries\)/],
    ['hostConfig.CapAdd', hostile({ CapAdd: ['SYS_ADMIN'] }), /--cap-add SYS_ADMIN \(a destination allows it with --allow-cap SYS_ADMIN\)/],
    ['hostConfig.CapAdd', hostile({ CapAdd: ['CAP_SYS_PTRACE'] }), /--cap-add SYS_PTRACE/],
    ['hostConfig.CapAdd', hostile({ CapAdd: ['ALL'] }), /--cap-add ALL/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['seccomp=unconfined'] }), /--security-opt seccomp=unconfined/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['seccomp:unconfined'] }), /--security-opt seccomp:unconfined/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] }), /--security-opt seccomp=\{/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['apparmor=unconfined'] }), /apparmor=unconfined/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['label=disable'] }), /label=disable/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['label:disable'] }), /label:disable/],
    ['hostConfig.SecurityOpt', hostile({ SecurityOpt: ['systempaths=unconfined'] }), /systempaths=unconfined/],
    ['hostConfig.MaskedPaths', hostile({ MaskedPaths: [] }), /MaskedPaths without \/proc\/kcore/],
    ['hostConfig.ReadonlyPaths', hostile({ ReadonlyPaths: ['/proc/bus'] }), /ReadonlyPaths without \/proc\/sys/],
    ['hostConfig.Sysctls', hostile({ Sysctls: { 'kernel.core_pattern': '|/evil' } }), /--sysctl kernel\.core_pattern/],
    ['config.Volumes', (s: ContainerSpec) => { (s.config as Record<string, unknown>).Volumes = { '/x': {} }; }, /config field Volumes/],
    ['name', (s: ContainerSpec) => { s.name = '../etc'; }, /container name "\.\.\/etc"/],
    ['networks[0]', (s: ContainerSpec) => { s.networks = [onNet('host')]; }, /host network namespace/],
    ['networks[0]', (s: ContainerSpec) => { s.networks = [onNet('container:abc')]; }, /another container's network namespace/],
    ['networks', (s: ContainerSpec) => { s.networks = [onNet('a'), onNet('a')]; }, /a network listed twice/],
    ['networks', (s: ContainerSpec) => { s.networks = Array.from({ length: 9 }, (_, i) => onNet(`n${i}`)); }, /at most 8/],
    ['networks[0]', (s: ContainerSpec) => { s.networks = ['bridge' as unknown as NetworkSpec]; }, /not an object/],
    ['networks[0]', (s: ContainerSpec) => { s.networks = [{ ...onNet('a'), ipv4Address: '1.2.3' }]; }, /--ip 1\.2\.3 \(not an IPv4 address\)/],
    ['networks[0]', (s: ContainerSpec) => { s.networks = [{ ...onNet('a'), ipv6Address: '10.0.0.1' }]; }, /--ip6 10\.0\.0\.1/],
    ['networks[0]', (s: ContainerSpec) => { s.networks = [{ ...onNet('a'), aliases: ['a b'] }]; }, /--network-alias a b \(not a DNS name\)/],
    ['networks[0].mac', (s: ContainerSpec) => { s.networks = [{ ...onNet('a'), mac: 'x' } as NetworkSpec]; }, /network field "mac"/],
    ['mounts[0]', (s: ContainerSpec) => { s.mounts = [{ type: 'bind', name: '', source: '/', destination: '/host', readOnly: false }]; },
      /a bind mount of \/ \(a destination allows it with --allow-bind PREFIX\)/],
    ['mounts[0]', (s: ContainerSpec) => { s.mounts = [{ type: 'tmpfs' as 'bind', name: '', source: '', destination: '/t', readOnly: false }]; }, /type tmpfs/],
    ['mounts[0]', (s: ContainerSpec) => { s.mounts = [{ type: 'volume', name: '../x', source: '', destination: '/d', readOnly: false }]; }, /volume "\.\.\/x"/],
    ['mounts[0]', (s: ContainerSpec) => { s.mounts = [{ type: 'volume', name: 'v', source: '', destination: HELPER_IN_CONTAINER, readOnly: false }]; }, /restore helper's path/],
    ['mounts[0]', (s: ContainerSpec) => { s.mounts = [{ type: 'volume', name: 'v', source: '', destination: '/a/../b', readOnly: false }]; }, /not a normalized absolute path/],
    ['evil', (s: ContainerSpec & Record<string, unknown>) => { s.evil = 1; }, /a field "evil"/],
  ])('refuses %s, naming it in one line', (field, patch, pattern) => {
    const s = spec(patch);
    expect(specRefusal(s, DEFAULT_SPEC_POLICY)?.field).toBe(field);
    let err: unknown;
    try {
      checkSpecPolicy(s, DEFAULT_SPEC_POLICY, 'on node2');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedContainerError);
    const message = (err as Error).message;
    expect(message).toMatch(new RegExp(`^container spec refused on node2: ${field.replace(/[[\].]/g, '\\$&')}: `));
    expect(message).toMatch(pattern);
    expect(message).not.toContain('\n');
  });

  it('lets the operator allow capabilities and bind prefixes', () => {
    const opts: SpecPolicyOptions = { allowCaps: ['sys_ptrace'], allowBindPrefixes: ['/srv/shared/'] };
    const bind = (source: string) => spec((s) => {
      s.hostConfig.CapAdd = ['SYS_PTRACE'];
      s.mounts = [{ type: 'bind', name: '', source, destination: '/data', readOnly: true }];
    });
    expect(specRefusal(bind('/srv/shared'), opts)).toBeUndefined();
    expect(specRefusal(bind('/srv/shared/app'), opts)).toBeUndefined();
    expect(specRefusal(bind('/srv/sharedx'), opts)?.field).toBe('mounts[0]');
    expect(specRefusal(bind('/srv/shared/../../etc'), opts)?.what).toMatch(/not a normalized absolute path/);
    expect(specRefusal(spec(hostile({ CapAdd: ['SYS_ADMIN'] })), opts)?.field).toBe('hostConfig.CapAdd');
  });

  it('is what the source checks too, in its own words, with binds and capabilities left to the destination', () => {
    const inspect = (hc: Record<string, unknown>): ContainerInspect => {
      const c = structuredClone(recorded) as unknown as ContainerInspect & { HostConfig: Record<string, unknown> };
      Object.assign(c.HostConfig, hc);
      return c;
    };
    expect(() => checkSupported(inspect({ SecurityOpt: ['seccomp=unconfined'] })))
      .toThrow(/uses --security-opt seccomp=unconfined, which cannot be migrated/);
    expect(() => checkSupported(inspect({ Sysctls: { 'kernel.core_pattern': 'x' } }))).toThrow(/--sysctl kernel\.core_pattern/);
    expect(() => checkSupported(inspect({ CapAdd: ['SYS_ADMIN'] }))).not.toThrow();
  });

  it('passes -t / -i as booleans, and refuses them as anything else', () => {
    expect(specRefusal(spec((x) => Object.assign(x.config, { Tty: true, OpenStdin: true, StdinOnce: false })), DEFAULT_SPEC_POLICY)).toBeUndefined();
    expect(specRefusal(spec((x) => Object.assign(x.config, { Tty: 'yes' })), DEFAULT_SPEC_POLICY))
      .toEqual({ field: 'config.Tty', what: 'config field Tty that is not true or false' });
  });
});
