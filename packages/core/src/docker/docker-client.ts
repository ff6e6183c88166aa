import type { Readable } from 'node:stream';
import Dockerode from 'dockerode';

export type ContainerInspect = Dockerode.ContainerInspectInfo;
export type ImageInspect = Dockerode.ImageInspectInfo;
export type ContainerCreateOptions = Dockerode.ContainerCreateOptions;
export type EndpointSettings = Dockerode.EndpointSettings;

/** What a network offers a container asking for a fixed address: its subnets, and the addresses in use. */
export interface NetworkAddresses {
  /** CIDRs of the network's IPAM config (IPv4 and IPv6). */
  subnets: string[];
  /** Addresses of the containers on it, and its gateways (without prefix length). */
  used: string[];
}

/** The small part of Docker the product uses; everything else goes through this interface. */
export interface DockerClient {
  version(): Promise<{ version: string; apiVersion: string }>;
  /** Docker's data root (e.g. /var/lib/docker): container files live below it. */
  rootDir(): Promise<string>;
  inspectContainer(nameOrId: string): Promise<ContainerInspect | null>;
  inspectImage(ref: string): Promise<ImageInspect | null>;
  volumeExists(name: string): Promise<boolean>;
  networkExists(name: string): Promise<boolean>;
  /** null when there is no such network. */
  networkAddresses(name: string): Promise<NetworkAddresses | null>;
  /** Connects a created (not yet started) container to one more network. */
  connectNetwork(network: string, containerId: string, endpoint: EndpointSettings): Promise<void>;
  createVolume(name: string, labels?: Record<string, string>): Promise<string>;
  removeVolume(name: string): Promise<void>;
  /** Containers (running or not) that mount the named volume. */
  containersUsingVolume(name: string): Promise<string[]>;
  /** Docker's storage driver (overlay2, ...). */
  storageDriver(): Promise<string>;
  /** IDs of the images on this host. */
  listImageIds(): Promise<string[]>;
  /** IDs of this host's containers (stopped ones too when `all`). */
  listContainerIds(all: boolean): Promise<string[]>;
  createContainer(opts: ContainerCreateOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** A container that is gone or not running (any more) is left as it is. */
  killContainer(id: string, signal?: string): Promise<void>;
  removeContainer(id: string, opts?: { force?: boolean }): Promise<void>;
  /** Builds an image from a tar build context (classic builder), tagged; resolves once it is built. */
  buildImage(context: Readable, opts: { tag: string; labels: Record<string, string> }): Promise<void>;
  /** A tar stream of `path` in a container (GET /containers/ID/archive). */
  archive(id: string, path: string): Promise<Readable>;
}

function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

/** Docker's error text without dockerode's "(HTTP code 409) unexpected - " prefix. */
export function dockerErrorMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return e.json?.message ?? e.message ?? String(err);
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw new Error(dockerErrorMessage(err));
  }
}

async function rethrowPlain<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error(dockerErrorMessage(err));
  }
}

/** DockerClient over dockerode, talking to one daemon's socket. */
export class DockerodeClient implements DockerClient {
  private readonly d: Dockerode;
  private cachedRoot: string | undefined;

  constructor(socketPath = '/var/run/docker.sock') {
    this.d = new Dockerode({ socketPath });
  }

  async version(): Promise<{ version: string; apiVersion: string }> {
    const v = await rethrowPlain(this.d.version());
    return { version: v.Version, apiVersion: v.ApiVersion };
  }

  async rootDir(): Promise<string> {
    if (!this.cachedRoot) {
      const info = (await rethrowPlain(this.d.info())) as { DockerRootDir: string };
      this.cachedRoot = info.DockerRootDir;
    }
    return this.cachedRoot;
  }

  inspectContainer(nameOrId: string): Promise<ContainerInspect | null> {
    return orNull(this.d.getContainer(nameOrId).inspect());
  }

  inspectImage(ref: string): Promise<ImageInspect | null> {
    return orNull(this.d.getImage(ref).inspect());
  }

  async volumeExists(name: string): Promise<boolean> {
    return (await orNull(this.d.getVolume(name).inspect())) !== null;
  }

  async networkExists(name: string): Promise<boolean> {
    return (await orNull(this.d.getNetwork(name).inspect())) !== null;
  }

  async networkAddresses(name: string): Promise<NetworkAddresses | null> {
    const n = (await orNull(this.d.getNetwork(name).inspect())) as Dockerode.NetworkInspectInfo | null;
    if (!n) return null;
    const bare = (a: string | undefined): string[] => (a ? [a.replace(/\/\d+$/, '')] : []);
    const config = n.IPAM?.Config ?? [];
    const containers = Object.values(n.Containers ?? {}) as Array<{ IPv4Address?: string; IPv6Address?: string }>;
    return {
      subnets: config.flatMap((c) => (c.Subnet ? [c.Subnet] : [])),
      used: [
        ...config.flatMap((c) => bare(c.Gateway)),
        ...containers.flatMap((c) => [...bare(c.IPv4Address), ...bare(c.IPv6Address)]),
      ],
    };
  }

  async connectNetwork(network: string, containerId: string, endpoint: EndpointSettings): Promise<void> {
    await rethrowPlain(this.d.getNetwork(network).connect({ Container: containerId, EndpointConfig: endpoint }));
  }

  async createVolume(name: string, labels?: Record<string, string>): Promise<string> {
    await rethrowPlain(this.d.createVolume({ Name: name, Labels: labels ?? {} }));
    const v = (await rethrowPlain(this.d.getVolume(name).inspect())) as { Mountpoint: string };
    return v.Mountpoint;
  }

  async removeVolume(name: string): Promise<void> {
    await orNull(this.d.getVolume(name).remove());
  }

  async containersUsingVolume(name: string): Promise<string[]> {
    const list = await rethrowPlain(
      this.d.listContainers({ all: true, filters: JSON.stringify({ volume: [name] }) }),
    );
    return list.map((c) => c.Id);
  }

  async storageDriver(): Promise<string> {
    return ((await rethrowPlain(this.d.info())) as { Driver: string }).Driver;
  }

  async listImageIds(): Promise<string[]> {
    return (await rethrowPlain(this.d.listImages())).map((i) => i.Id);
  }

  async listContainerIds(all: boolean): Promise<string[]> {
    return (await rethrowPlain(this.d.listContainers({ all }))).map((c) => c.Id);
  }

  async createContainer(opts: ContainerCreateOptions): Promise<string> {
    const c = await rethrowPlain(this.d.createContainer(opts));
    return c.id;
  }

  async startContainer(id: string): Promise<void> {
    await rethrowPlain(this.d.getContainer(id).start());
  }

  async killContainer(id: string, signal = 'SIGKILL'): Promise<void> {
    try {
      await this.d.getContainer(id).kill({ signal });
    } catch (err) {
      if (isNotFound(err) || (err as { statusCode?: number }).statusCode === 409) return; // gone, or not running
      throw new Error(dockerErrorMessage(err));
    }
  }

  async removeContainer(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await orNull(this.d.getContainer(id).remove({ force: opts.force ?? false, v: false }));
  }

  async buildImage(context: Readable, opts: { tag: string; labels: Record<string, string> }): Promise<void> {
    const progress = await rethrowPlain(this.d.buildImage(context, { t: opts.tag, labels: opts.labels, rm: true, forcerm: true, version: '1' }));
    // The build's outcome is in its progress messages: an error there is the build failing.
    await new Promise<void>((resolve, reject) => {
      this.d.modem.followProgress(progress, (err: Error | null, out: Array<{ error?: string }>) => {
        const failed = err?.message ?? out.find((m) => m.error)?.error;
        if (failed) reject(new Error(`docker build of ${opts.tag}: ${failed}`));
        else resolve();
      });
    });
  }

  async archive(id: string, path: string): Promise<Readable> {
    return (await rethrowPlain(this.d.getContainer(id).getArchive({ path }))) as unknown as Readable;
  }
}

/** The overlay2 directories of a container (dockerode types GraphDriver.Data for devicemapper). */
export function overlayDirs(c: ContainerInspect): { upper: string; merged: string } {
  const data = c.GraphDriver.Data as unknown as Record<string, string>;
  if (c.GraphDriver.Name !== 'overlay2' || !data.UpperDir || !data.MergedDir) {
    throw new Error(`container ${c.Name.replace(/^\//, '')} is not on overlay2 (${c.GraphDriver.Name})`);
  }
  return { upper: data.UpperDir, merged: data.MergedDir };
}
