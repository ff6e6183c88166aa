// The target's disk trees as the stream writes them: its rootfs (through the overlay mount, so
// that deletions of image files become whiteouts) and each volume it mounts. One applier per
// tree takes every disk round and the checkpoint's last delta, so that later rounds may update
// only what earlier ones made.
import { overlayDirs, type ContainerInspect } from '../../docker/docker-client';
import { DiffApplier } from '../../fsdiff';

export class TreeAppliers {
  readonly rootfs: DiffApplier;
  private readonly volumeRoots = new Map<string, string>();
  private readonly volumes = new Map<string, DiffApplier>();

  /** `rootfs`: where the target's rootfs is mounted (Docker's merged dir unless given: cold-rootfs.ts). */
  constructor(target: ContainerInspect, rootfs = overlayDirs(target).merged) {
    this.rootfs = new DiffApplier(rootfs, { overlay: true });
    for (const m of target.Mounts ?? []) if (m.Type === 'volume' && m.Name) this.volumeRoots.set(m.Name, m.Source);
  }

  /** The applier of a volume the target mounts (undefined for any other name). */
  volume(name: string): DiffApplier | undefined {
    const root = this.volumeRoots.get(name);
    if (!root) return undefined;
    let a = this.volumes.get(name);
    if (!a) this.volumes.set(name, (a = new DiffApplier(root, { overlay: false })));
    return a;
  }

  /** File data written so far, in all trees. */
  get fileBytes(): number {
    let n = this.rootfs.stats.fileBytes;
    for (const a of this.volumes.values()) n += a.stats.fileBytes;
    return n;
  }

  /** Entry bodies taken so far, in all trees (file data and anything drained). */
  get bodyBytes(): number {
    let n = this.rootfs.stats.bytes;
    for (const a of this.volumes.values()) n += a.stats.bytes;
    return n;
  }

  get entries(): number {
    let n = this.rootfs.stats.entries;
    for (const a of this.volumes.values()) n += a.stats.entries;
    return n;
  }

  /** Directory modes and mtimes, once nothing more is written. */
  async finish(): Promise<void> {
    await this.rootfs.finish();
    for (const a of this.volumes.values()) await a.finish();
  }
}
