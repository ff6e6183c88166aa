import path from 'node:path';

/** A static helper built beside restore-init (packages/restore-init, `make`), from src/ and dist/ alike. */
export function staticHelper(name: string): string {
  return path.resolve(__dirname, '../../../restore-init', name);
}
