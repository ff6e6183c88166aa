import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { criuBinaryKey, criuFacts, lazyPagesSupported } from './criu-check';

/** A stand-in criu that logs each run's arguments to `runs` and answers as CRIU 4.2 does. */
function fakeCriu(dir: string, checkOutput = 'Looks good.'): { bin: string; runs: () => string[] } {
  const bin = path.join(dir, 'criu');
  const log = path.join(dir, 'runs');
  fs.writeFileSync(bin, [
    '#!/bin/sh',
    `echo "$*" >> ${log}`,
    'case "$1" in --version) echo "Version: 4.2.1";; check) echo "' + checkOutput + '";; esac',
    '',
  ].join('\n'), { mode: 0o755 });
  return { bin, runs: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
}

describe('criu check results, cached per agent process', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'criu-check-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('runs criu --version and criu check once per binary, however often asked', async () => {
    const criu = fakeCriu(dir);
    const asked = await Promise.all([criuFacts(criu.bin), criuFacts(criu.bin)]);
    expect(await criuFacts(criu.bin)).toEqual({ version: '4.2.1', checkOk: true, checkMessage: 'Looks good.' });
    expect(asked[0]).toEqual(asked[1]);
    expect(criu.runs()).toEqual(['--version', 'check']);
    expect(await lazyPagesSupported(criu.bin)).toBe(true);
    expect(await lazyPagesSupported(criu.bin)).toBe(true);
    expect(criu.runs()).toEqual(['--version', 'check', 'check --feature uffd-noncoop']);
  });

  it('asks again once the binary is replaced (a new mtime), and keeps a failing answer until then', async () => {
    const criu = fakeCriu(dir, 'Error (criu/cr-check.c:1): no good');
    expect((await criuFacts(criu.bin)).checkOk).toBe(false);
    expect((await criuFacts(criu.bin)).checkMessage).toBe('Error (criu/cr-check.c:1): no good');
    expect(criu.runs()).toHaveLength(2);
    fakeCriu(dir); // reinstalled, fixed
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(criu.bin, later, later);
    expect((await criuFacts(criu.bin)).checkOk).toBe(true);
    expect(criu.runs()).toHaveLength(4);
  });

  it('finds a bare name in PATH, and says when there is no such binary (asking again next time)', () => {
    const criu = fakeCriu(dir);
    const saved = process.env.PATH;
    process.env.PATH = `/nonexistent:${dir}`;
    try {
      expect(criuBinaryKey('criu')).toBe(`${criu.bin}@${fs.statSync(criu.bin).mtimeMs}`);
    } finally {
      process.env.PATH = saved;
    }
    expect(criuBinaryKey(path.join(dir, 'nope'))).toBeUndefined();
  });

  it('reports a missing binary as not found', async () => {
    expect(await criuFacts(path.join(dir, 'nope'))).toEqual({ version: '', checkOk: false, checkMessage: `${path.join(dir, 'nope')} not found` });
  });
});
