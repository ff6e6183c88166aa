import fs from 'node:fs';
import { MigrationError } from '../protocol/migration-error';

/**
 * Refuses, before anything is frozen, a checkpoint that cannot fit where it is written (CRIU's
 * images on the source, the received stream on the destination): 20% headroom over the estimate.
 */
export function requireFreeDisk(dir: string, estimatedBytes: number, where: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (free < estimatedBytes * 1.2) {
    throw new MigrationError('precondition', `not enough disk ${where}: ${free} bytes free in ${dir}, ${estimatedBytes} needed`);
  }
}
