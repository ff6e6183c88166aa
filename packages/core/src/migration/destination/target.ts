// The target container: what one migration makes on the destination, from its creation before
// the freeze to the restore into it, and all of it removed again unless committed.
import fs from 'node:fs';
import path from 'node:path';
import { overlayDirs, type ContainerInspect } from '../../docker/docker-client';
import type { Prepare } from '../../rpc/messages';
import { trace } from '../../util/trace';
import { coldCreateOptionsFor, createOptionsFor, endpointConfig, RESTORE_MARKER } from '../container-spec';
import { mountRootfs, unmountRootfs } from './cold-rootfs';
import type { DestinationContext } from '../context';
import { discardWorkDir, migrationsDir, writeRecord } from '../migration-record';
import { makeMigrationScratch } from '../scratch-dir';
import type { PrepareSpec } from '../prepare-spec';
import type { TargetPlace } from './prepare';
import type { PrecopyStore } from './precopy-store';
import { prepareRestore, shareMountsTool, type PendingRestore, type ResumeGate, type RestoredTree } from './restore-into-container';
import { TreeAppliers } from './tree-appliers';

export type { TreeAppliers } from './tree-appliers';

export class Target {
  containerId = '';
  /** Commit received and marked: nothing of it is removed any more. */
  committed = false;
  private readonly createdVolumes: string[] = [];
  /** In the state dir: the record (a crash's recovery reads it). */
  readonly workDir: string;
  /** Where the checkpoint lands: CRIU's images and the pre-copy store (the work dir, or in memory). */
  readonly scratch: string;
  readonly imagesDir: string;
  /** The started target, inspected once before the freeze (nothing read here changes after). */
  private inspect: ContainerInspect | undefined;
  /** The pre-copy, once received. */
  store: PrecopyStore | undefined;
  /** criu restore, started as far as it can be before the images are in. */
  private pendingRestore: PendingRestore | undefined;
  private appliers: TreeAppliers | undefined;
  /** A cold move: where its rootfs is mounted while the disk rounds write it (cold-rootfs.ts). */
  private coldRootfs: string | undefined;

  constructor(
    private readonly ctx: DestinationContext,
    private readonly prepare: Prepare,
    private readonly spec: PrepareSpec,
    private readonly place: TargetPlace,
  ) {
    this.workDir = path.join(migrationsDir(ctx.stateDir), prepare.migrationId);
    this.scratch = path.join(place.scratchUnder, prepare.migrationId);
    this.imagesDir = path.join(this.scratch, 'images');
  }

  get migrationId(): string {
    return this.prepare.migrationId;
  }

  /** The container's name (as on the source). */
  get name(): string {
    return this.spec.container.name;
  }

  /** A stopped container moves cold: created, not started (Prepare.cold). */
  get cold(): boolean {
    return this.prepare.cold === true;
  }

  /** Creates and starts the target container; its helper waits for the restore (cold: only creates it). */
  async create(): Promise<string> {
    const { docker } = this.ctx;
    const c = this.spec.container;
    makeMigrationScratch(this.scratch); // 0700: the images hold process memory
    fs.mkdirSync(this.imagesDir, { recursive: true });
    this.saveRecord(false);
    for (const m of c.mounts) {
      if (m.type !== 'volume') continue;
      await docker.createVolume(m.name);
      this.createdVolumes.push(m.name);
      this.saveRecord(false);
    }
    const image = (await docker.inspectImage(c.imageRef))?.Id === c.imageId ? c.imageRef : c.imageId;
    const bins = { helper: this.ctx.helperPath, dockerInit: this.place.dockerInit };
    trace('dst: prepare: docker create');
    this.containerId = await docker.createContainer(this.cold ? coldCreateOptionsFor(c, image) : createOptionsFor(c, bins, image));
    this.saveRecord(false);
    // Docker 20.10 joins one network at create; the others before the start, with their addresses.
    for (const n of c.networks.slice(1)) await docker.connectNetwork(n.name, this.containerId, endpointConfig(n));
    const created = await docker.inspectContainer(this.containerId);
    if (!created) throw new Error('the new container vanished');
    if (this.cold) {
      this.inspect = created;
      return this.containerId;
    }
    fs.writeFileSync(path.join(overlayDirs(created).upper, RESTORE_MARKER), '');
    trace('dst: prepare: created, docker start');
    await docker.startContainer(this.containerId);
    trace('dst: prepare: started');
    this.inspect = (await docker.inspectContainer(this.containerId)) ?? undefined;
    if (!this.inspect?.State.Running) throw new Error('the new container stopped right after its start');
    this.pendingRestore = this.startRestore(this.inspect);
    return this.containerId;
  }

  /** The target container, its helper still alive (waiting for the restore). */
  started(): ContainerInspect {
    const t = this.inspect;
    if (!t) throw new Error('the target container was not started');
    try {
      process.kill(t.State.Pid, 0);
    } catch {
      throw new Error('the new container stopped before the restore');
    }
    return t;
  }

  /** The target's rootfs and volumes as the disk rounds and the checkpoint write them. */
  trees(): TreeAppliers {
    return (this.appliers ??= new TreeAppliers(this.started()));
  }

  /** A cold target's trees, its rootfs mounted here until finishCold(). */
  async coldTrees(): Promise<TreeAppliers> {
    if (this.appliers) return this.appliers;
    const t = this.inspect;
    if (!t) throw new Error('the target container was not created');
    const at = path.join(this.scratch, 'rootfs');
    await mountRootfs(t, at);
    this.coldRootfs = at;
    return (this.appliers = new TreeAppliers(t, at));
  }

  /** A cold target, its disk rounds all in: directory modes and times set, its rootfs unmounted. */
  async finishCold(): Promise<void> {
    await this.appliers?.finish();
    await this.unmountCold();
  }

  private async unmountCold(): Promise<void> {
    if (!this.coldRootfs) return;
    await unmountRootfs(this.coldRootfs);
    this.coldRootfs = undefined;
  }

  private startRestore(target: ContainerInspect): PendingRestore {
    return prepareRestore({
      criuPath: this.ctx.criuPath,
      helperPid: target.State.Pid,
      container: target,
      imagesDir: this.imagesDir,
      tree: this.spec.tree,
      lazyPages: this.place.lazyPages,
      tmpfs: {
        paths: [...Object.keys((this.spec.container.hostConfig.Tmpfs as Record<string, string> | undefined) ?? {}), '/dev/shm'],
        shareMountsPath: shareMountsTool(this.ctx.helperPath),
      },
    });
  }

  /** criu restore into the target; a lazy one calls `resumed` when the tree runs (see PendingRestore.run). */
  async restore(resumed?: (restoreMs: number) => Promise<never>, gate?: ResumeGate): Promise<RestoredTree> {
    const target = this.started();
    trace('dst: restore start');
    const pending = this.pendingRestore ?? this.startRestore(target);
    this.pendingRestore = undefined;
    const restored = await pending.run(resumed, gate);
    // The helper read the marker when it started; a later start must run the original command.
    trace('dst: restored');
    fs.rmSync(path.join(overlayDirs(target).merged, RESTORE_MARKER), { force: true });
    return restored;
  }

  /** For a restarted agent: what this migration made here, and whether it was committed. */
  saveRecord(committed: boolean): void {
    writeRecord(this.workDir, {
      role: 'destination',
      containerId: this.containerId,
      name: this.spec.container.name,
      volumes: [...this.createdVolumes],
      committed,
    });
  }

  /** After Commit: only the temporary files go. */
  finish(): void {
    this.store?.close();
    this.store = undefined;
    discardWorkDir(this.ctx.stateDir, this.workDir, this.scratch);
  }

  /** Anything failed before Commit: remove all that this migration made here; true once its container is gone. */
  async rollback(): Promise<boolean> {
    const { docker } = this.ctx;
    // Its waiting processes are in the container's cgroups: gone before the container goes.
    await this.pendingRestore?.cancel();
    this.pendingRestore = undefined;
    // Never remove the scratch dir (below) through a mounted rootfs: that would delete image files.
    await this.unmountCold();
    if (this.containerId) await docker.removeContainer(this.containerId, { force: true }).catch(() => undefined);
    for (const v of this.createdVolumes) await docker.removeVolume(v).catch(() => undefined);
    this.finish();
    return !this.containerId || (await docker.inspectContainer(this.containerId).catch(() => undefined)) === null;
  }
}
