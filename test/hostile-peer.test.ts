// A corrupted or hostile stream sent straight to the destination agent's gRPC API must be
// refused, and the destination must keep nothing of it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { ROOT, docker, inNode, lab, removeEverywhere, state, tryDocker, waitFor } from './lab';

const EVIL = `/tmp/livemig-pwned-${process.pid}`;

/**
 * Runs test/tools/raw-peer.cjs on node1 against node2; env: LIVEMIG_TLS_NAME (certificate, default
 * node1's), LIVEMIG_SOURCE_NODE, LIVEMIG_SPEC_PATCH (see the tool).
 */
interface Answer { replies: string[]; code: number; details: string; endedAfterMs: number }

function send(scenario: string, env: Record<string, string> = {}): Answer {
  const r = inNode('node1', ...rawPeer(scenario, env));
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Answer;
}

function rawPeer(scenario: string, env: Record<string, string>): string[] {
  const imageId = docker('node2', 'image', 'inspect', '-f', '{{.Id}}', 'busybox:latest');
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return ['env', ...vars, 'node', path.join(ROOT, 'test/tools/raw-peer.cjs'), scenario, 'node2', imageId, EVIL];
}

/** send, without waiting for the answer. */
function sendInBackground(scenario: string, env: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts/lab.sh'), 'exec', 'node1', ...rawPeer(scenario, env)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Answer) : reject(new Error(`raw-peer ${scenario}: exit ${code}`))));
  });
}

const VOLUME = 'hostile-vol';
const volume = { type: 'volume', name: VOLUME, source: '', destination: '/data', readOnly: false };
const rootBind = { type: 'bind', name: '', source: '/', destination: '/host', readOnly: false };

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
    tryDocker('node2', 'volume', 'rm', VOLUME);
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
    // A CRIU image larger than the memory Prepare announced (1 byte) allows: twice it and 256 MiB.
    ['images-oversize', ['prepared'], /unsafe tar entry "pages-1\.img": size 268435459 exceeds the byte budget \(limit 268435458\)/],
  ])('pre-copy: %s', async (scenario, replies, pattern) => {
    const r = send(scenario);
    expect(r.replies).toEqual(replies);
    expect(r.details).toMatch(pattern);
    expectNothingKept();
    // The pre-copy store, in the destination's memory scratch dir, went with the rest.
    const scratch = '/dev/shm/livemig-lab/node2';
    await waitFor('node2 scratch empty', () => (fs.existsSync(scratch) ? fs.readdirSync(scratch) : []).length === 0);
  });

  // A disk round (the volumes and upper dir while the container runs) that is not what rounds are.
  it.each([
    ['disk-unsent', /an update of a file that was never sent/],
    ['disk-outside', /offset "999999999999999" is not a number within/],
    ['disk-unknown-volume', /tar entry for unknown volume: volumes\/not-announced\/f/],
    ['disk-images', /unexpected tar entry criu\/inventory\.img in a disk round/],
    ['disk-oversize', /^tar entry volumes\/hostile-vol\/big \(268437457 bytes\) takes the stream past 268437456 bytes of files \(Prepare announced 1000; twice that and 256 MiB are allowed\)$/],
  ])('disk round: %s', (scenario, pattern) => {
    const r = send(scenario, { LIVEMIG_SPEC_PATCH: JSON.stringify({ mounts: [volume] }) });
    expect(r.replies).toEqual(['prepared']);
    expect(r.details).toMatch(pattern);
    expectNothingKept();
    expect(tryDocker('node2', 'volume', 'inspect', VOLUME).code).not.toBe(0);
  });

  it('more disk rounds than a source makes', () => {
    const r = send('disk-rounds', { LIVEMIG_SPEC_PATCH: JSON.stringify({ mounts: [volume] }) });
    expect(r.replies).toEqual(['prepared', ...Array(6).fill('diskStored')]);
    expect(r.details).toBe('more than 6 disk rounds');
    expectNothingKept();
    expect(tryDocker('node2', 'volume', 'inspect', VOLUME).code).not.toBe(0);
  });

  // Host powers in the spec a peer sends: refused at Prepare, before anything is created.
  it.each([
    ['PidMode host', { hostConfig: { PidMode: 'host' }, mounts: [volume] }, /hostConfig\.PidMode: --pid host/],
    ['/ bind-mounted', { mounts: [rootBind, volume] }, /mounts\[0\]: a bind mount of \/ \(a destination allows it with --allow-bind PREFIX\)/],
    ['CapAdd SYS_ADMIN', { hostConfig: { CapAdd: ['SYS_ADMIN'] }, mounts: [volume] }, /hostConfig\.CapAdd: --cap-add SYS_ADMIN/],
    ['seccomp unconfined', { hostConfig: { SecurityOpt: ['seccomp=unconfined'] }, mounts: [volume] }, /hostConfig\.SecurityOpt: --security-opt seccomp=unconfined/],
    ['privileged', { hostConfig: { Privileged: true }, mounts: [volume] }, /hostConfig\.Privileged: --privileged/],
    ['devices', { hostConfig: { Devices: [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'rwm' }] }, mounts: [volume] },
      /hostConfig\.Devices: devices \(--device\)/],
    ['host network', { networks: [{ name: 'host', ipv4Address: '', ipv6Address: '', aliases: [] }], mounts: [volume] }, /networks\[0\]: the host network namespace/],
    ['all of them', { hostConfig: { PidMode: 'host', CapAdd: ['SYS_ADMIN'], SecurityOpt: ['seccomp=unconfined'] }, mounts: [rootBind, volume] },
      /hostConfig\.PidMode: --pid host/],
  ])('a container spec asking for the host: %s', (_what, patch, pattern) => {
    const r = send('corrupt-chunk', { LIVEMIG_SPEC_PATCH: JSON.stringify(patch) });
    expect(r.code).toBe(9); // FAILED_PRECONDITION
    expect(r.replies).toEqual([]);
    expect(r.details).toMatch(/^container spec refused on node2: /);
    expect(r.details).toMatch(pattern);
    expect(r.details).not.toContain('\n');
    expectNothingKept();
    expect(tryDocker('node2', 'volume', 'inspect', VOLUME).code).not.toBe(0);
  });

  it('the same spec with the operator certificate: Migrate is denied before the spec is read', () => {
    const patch = { hostConfig: { PidMode: 'host', CapAdd: ['SYS_ADMIN'] }, mounts: [rootBind, volume] };
    const r = send('corrupt-chunk', { LIVEMIG_TLS_NAME: 'client', LIVEMIG_SPEC_PATCH: JSON.stringify(patch) });
    expect(r.code).toBe(7); // PERMISSION_DENIED
    expect(r.replies).toEqual([]);
    expect(r.details).toBe('permission denied: Migrate needs a node certificate; the caller presented the operator certificate of client');
    expectNothingKept();
    expect(tryDocker('node2', 'volume', 'inspect', VOLUME).code).not.toBe(0);
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

describe('a source that stalls after Prepare', () => {
  beforeAll(() => {
    removeEverywhere('hostile-target');
    expect(lab('restart-agent', 'node2', '--idle-timeout', '3', '--max-incoming', '1').code).toBe(0);
  });
  afterAll(() => {
    expect(lab('restart-agent', 'node2').code).toBe(0);
    removeEverywhere('hostile-target');
    tryDocker('node2', 'volume', 'rm', VOLUME);
  });

  it('is cut off after the idle timeout, and its target (container, volume, scratch dir) removed; meanwhile it holds its --max-incoming slot', async () => {
    const stalled = sendInBackground('stall', { LIVEMIG_SPEC_PATCH: JSON.stringify({ mounts: [volume] }) });
    await waitFor('the stalled target on node2', () => state('node2', 'hostile-target')?.running, 10_000, 100);
    // The only slot (--max-incoming 1) is the stalled source's: another is refused before anything is made.
    const refused = send('corrupt-chunk');
    expect(refused.code).toBe(9); // FAILED_PRECONDITION
    expect(refused.replies).toEqual([]);
    expect(refused.details).toBe('node2 already receives 1 migration (its --max-incoming): try again once one has ended');
    const r = await stalled;
    expect(r.replies).toEqual(['prepared']); // the target was made...
    expect(r.code).toBe(10); // ABORTED
    expect(r.details).toBe('the source sent nothing for 3 s (--idle-timeout): cut off');
    expect(r.endedAfterMs).toBeGreaterThanOrEqual(2_900);
    expect(r.endedAfterMs).toBeLessThan(10_000);
    // ...and nothing of it is left: container, volume, record, scratch dir.
    expect(docker('node2', 'ps', '-a', '--filter', 'name=hostile-target', '-q')).toBe('');
    expect(tryDocker('node2', 'volume', 'inspect', VOLUME).code).not.toBe(0);
    expectNothingKept();
    const scratch = '/dev/shm/livemig-lab/node2';
    await waitFor('node2 scratch empty', () => (fs.existsSync(scratch) ? fs.readdirSync(scratch) : []).length === 0);
    // Its slot was released with it.
    expect(send('corrupt-chunk').replies).toEqual(['prepared']);
    expectNothingKept();
  });
});

