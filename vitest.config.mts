import { defineConfig } from 'vitest/config';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  resolve: {
    alias: { '@livemig/core': path.resolve(here, 'packages/core/src/index.ts') },
  },
  test: {
    projects: [
      {
        extends: true,
        // --expose-gc: memory-bound tests collect garbage before sampling, so they measure what
        // is held, not what the GC has not reclaimed yet.
        test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], testTimeout: 30_000, execArgv: ['--expose-gc'] },
      },
      {
        extends: true,
        // End-to-end tests share one lab (two dockerds, two agents): run them one file at a time.
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          globalSetup: ['test/global-setup.ts'],
        },
      },
    ],
  },
});
