import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeMigrationScratch } from './scratch-dir';

describe('makeMigrationScratch', () => {
  let base: string;
  beforeEach(() => (base = fs.mkdtempSync(path.join(os.tmpdir(), 'scratch-'))));
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it('makes the migration dir 0700, and tightens one that exists', () => {
    const dir = path.join(base, 'migrations', '0f4b1c52-3f0e-4c1e-9a57-8f1f6b1d2a10');
    makeMigrationScratch(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    fs.chmodSync(dir, 0o755);
    makeMigrationScratch(dir);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });
});
