// A corrupted or hostile stream sent straight to the destination agent's gRPC API must be
// refused, and the destination must keep nothing of it.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ROOT, docker, inNode, removeEverywhere, state, waitFor } from './lab';

const EVIL = `/tmp/livemig-pwned-${process.pid}`;

function send(scenario: string): { replies: string[]; code: number; details: string } {
  const imageId = docker('node2', 'image', 'inspect', '-f', '{{.Id}}', 'busybox:latest');
  const r = inNode('node1', 'node', path.join(ROOT, 'test/tools/raw-peer.cjs'), scenario, 'node2', imageId, EVIL);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { replies: string[]; code: number; details: string };
}

function expectNothingKept(): void {
  expect(state('node2', 'hostile-target')).toBeNull();
  expect(fs.existsSync(EVIL)).toBe(false);
  const dir = '/var/lib/livemig-lab/node2/agent/migrations';
  expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).toEqual([]);
}

describe('destination refuses broken and hostile streams', () => {
  beforeAll(() => removeEverywhere('hostile-target'));
  afterAll(() => {
    removeEverywhere('hostile-target');
    fs.rmSync(EVIL, { force: true });
  });

  it('a chunk failing its CRC32', () => {
    const r = send('corrupt-chunk');
    expect(r.replies).toEqual(['prepared']); // it got as far as creating the target...
    expect(r.details).toMatch(/chunk 0 fails its CRC32 check/);
    expectNothingKept(); // ...and removed it again
  });

  it('a truncated stream', () => {
    expect(send('truncated').details).toMatch(/stream truncated: 1 of 2 chunks/);
    expectNothingKept();
  });

  it('a zstd bomb: a chunk of a few KiB that declares 256 MiB', () => {
    const r = send('zstd-bomb');
    expect(r.replies).toEqual(['prepared']);
    expect(r.details).toMatch(/a zstd frame declares 268435456 bytes, more than a chunk's 1048576/);
    expectNothingKept();
  });

  // A pre-copy that arrived whole is acknowledged (the source would freeze then); what follows is refused.
  const stored = ['prepared', 'precopyStored'];
  it.each([
    ['reuse-outside', stored, /a reuse run \[1, \+4\] lies outside the 1 pre-copied pages/],
    ['reuse-without-precopy', ['prepared'], /reuse entry pages-1\.img without a pre-copy/],
    ['precopy-overflow', ['prepared'], /the pre-copy exceeds the 4096 bytes announced/],
    ['adopt-missing', stored, /pre-copy segment 5 is not there to adopt/],
    ['patch-unmade', stored, /written at an offset before it was made/],
  ])('pre-copy: %s', async (scenario, replies, pattern) => {
    const r = send(scenario);
    expect(r.replies).toEqual(replies);
    expect(r.details).toMatch(pattern);
    expectNothingKept();
    // The pre-copy store, in the destination's memory scratch dir, went with the rest.
    const scratch = '/dev/shm/livemig-lab/node2';
    await waitFor('node2 scratch empty', () => (fs.existsSync(scratch) ? fs.readdirSync(scratch) : []).length === 0);
  });

  it.each([
    ['dotdot', /unsafe tar entry/],
    ['absolute', /unsafe tar entry|unexpected tar entry/],
    ['symlink-escape', /unsafe tar entry/],
    ['device', /unsafe tar entry/],
  ])('a tar stream with a %s entry', (scenario, pattern) => {
    const r = send(scenario);
    expect(r.code).not.toBe(0);
    expect(r.details).toMatch(pattern);
    expectNothingKept();
  });
});
