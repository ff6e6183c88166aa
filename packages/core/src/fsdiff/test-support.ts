// Shared by the fsdiff tests (not shipped code).
import type * as tar from 'tar-stream';
import { packTree, type PackStats, type PackTreeOptions } from './upper-dir-pack';

/** packTree, then finalize the pack, or tear it down on failure so its reader ends too. */
export function packAndFinalize(pack: tar.Pack, root: string, prefix: string, opts: PackTreeOptions): Promise<PackStats> {
  return packTree(pack, root, prefix, opts).then(
    (stats) => {
      pack.finalize();
      return stats;
    },
    (err: unknown) => {
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    },
  );
}
