import { describe, expect, it } from 'vitest';
import type { ContainerInspect } from '../../docker/docker-client';
import { overlayMountOptions } from './cold-rootfs';

const created = (data: Record<string, string>, driver = 'overlay2'): ContainerInspect =>
  ({ Name: '/c', GraphDriver: { Name: driver, Data: data } }) as unknown as ContainerInspect;

describe('overlayMountOptions', () => {
  it('mounts the layers Docker made for the created container, index off as Docker does', () => {
    const d = { LowerDir: '/d/o/a-init/diff:/d/o/img/diff', UpperDir: '/d/o/a/diff', WorkDir: '/d/o/a/work', MergedDir: '/d/o/a/merged' };
    expect(overlayMountOptions(created(d))).toBe('lowerdir=/d/o/a-init/diff:/d/o/img/diff,upperdir=/d/o/a/diff,workdir=/d/o/a/work,index=off');
  });

  it('refuses another driver or a container without lower dirs', () => {
    expect(() => overlayMountOptions(created({}, 'btrfs'))).toThrow(/not on overlay2 \(btrfs\)/);
    expect(() => overlayMountOptions(created({ UpperDir: '/u', WorkDir: '/w' }))).toThrow(/no lower dirs/);
  });
});
