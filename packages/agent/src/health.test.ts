import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DockerClient } from '@livemig/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { healthReply } from './health';

describe('Health', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs criu (its version, check and the lazy-pages feature check) once, however often it is called', async () => {
    const runs = path.join(dir, 'runs');
    const criu = path.join(dir, 'criu');
    fs.writeFileSync(criu, `#!/bin/sh\necho "$*" >> ${runs}\ncase "$1" in --version) echo "Version: 4.2.1";; check) echo "Looks good.";; esac\n`, { mode: 0o755 });
    const docker = {
      version: async () => ({ version: '27.0.0', apiVersion: '1.46' }),
      rootDir: async () => dir,
      storageDriver: async () => 'overlay2',
      listImageIds: async () => [],
    } as unknown as DockerClient;
    const capacity = { memoryBytes: 0, diskBytes: 0 };
    const first = await healthReply('n1', docker, criu, capacity);
    const ranFirst = fs.readFileSync(runs, 'utf8').trim().split('\n');
    const again = await Promise.all([1, 2, 3].map(() => healthReply('n1', docker, criu, capacity)));
    expect(first).toMatchObject({ criuVersion: '4.2.1', criuCheckOk: true, criuCheckMessage: 'Looks good.', lazyPages: true, dockerVersion: '27.0.0' });
    for (const r of again) expect({ ...r, clockMs: 0 }).toEqual({ ...first, clockMs: 0 });
    expect(ranFirst).toEqual(expect.arrayContaining(['--version', 'check', 'check --feature uffd-noncoop', 'check --feature timens']));
    expect(fs.readFileSync(runs, 'utf8').trim().split('\n')).toEqual(ranFirst); // nothing asked again
  });
});
