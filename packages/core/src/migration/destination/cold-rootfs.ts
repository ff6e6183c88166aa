// A cold move's target is created, not started, so Docker has not mounted its rootfs: the disk
// rounds are applied through an overlay mount of our own over the same layers (upper and work
// dir Docker made for it), so that deletions of image files become whiteouts as they do through
// Docker's mount; unmounted before the commit, and before anything below it is removed.
import fs from 'node:fs';
import type { ContainerInspect } from '../../docker/docker-client';
import { runOk } from '../../util/exec';

/** The mount options Docker's overlay2 would use for this container's layers. */
export function overlayMountOptions(target: ContainerInspect): string {
  const d = target.GraphDriver.Data as unknown as Record<string, string | undefined>;
  if (target.GraphDriver.Name !== 'overlay2' || !d.UpperDir || !d.WorkDir) {
    throw new Error(`container ${target.Name.replace(/^\//, '')} is not on overlay2 (${target.GraphDriver.Name})`);
  }
  // An image without layers of its own (FROM scratch with nothing added) still has its -init layer.
  const lower = d.LowerDir ?? '';
  if (!lower) throw new Error(`container ${target.Name.replace(/^\//, '')} has no lower dirs`);
  return `lowerdir=${lower},upperdir=${d.UpperDir},workdir=${d.WorkDir},index=off`;
}

export async function mountRootfs(target: ContainerInspect, at: string): Promise<void> {
  fs.mkdirSync(at, { recursive: true, mode: 0o700 });
  await runOk('mount', ['-t', 'overlay', 'overlay', '-o', overlayMountOptions(target), at]);
}

/** Unmounts it; busy, it is detached (-l): either way nothing below `at` is reachable after. */
export async function unmountRootfs(at: string): Promise<void> {
  await runOk('umount', [at]).catch(() => runOk('umount', ['-l', at]));
  fs.rmdirSync(at);
}
