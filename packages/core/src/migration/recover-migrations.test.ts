import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerInspect, DockerClient } from '../docker/docker-client';
import type { MigrationState } from '../rpc/messages';
import { discardWorkDir, isCommitted, markCommitted, migrationState, migrationsDir, writeRecord, type MigrationRecord } from './migration-record';
import type { CommitQuery } from './commit-outcome';
import { recoverMigrations } from './recover-migrations';

/** A Docker that knows one container and records what is done to it. */
function fakeDocker(calls: string[]): DockerClient {
  const fake: Partial<DockerClient> = {
    inspectContainer: async (id) =>
      id === 'c1' ? ({ Id: 'c1' } as ContainerInspect)
      : id === 'half-made' ? ({ Id: 'c7', Path: '/.livemig/restore-init' } as ContainerInspect)
      : id === 'someone-elses' ? ({ Id: 'c8', Path: '/bin/sh' } as ContainerInspect)
      : null,
    killContainer: async (id) => void calls.push(`kill ${id}`),
    removeContainer: async (id) => void calls.push(`rm ${id}`),
    removeVolume: async (v) => void calls.push(`rm volume ${v}`),
    containersUsingVolume: async (v) => (v === 'shared' ? ['other'] : []),
  };
  return fake as DockerClient;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('recoverMigrations', () => {
  let stateDir: string;
  let frozen: ChildProcess;
  let cgroupDir: string;

  beforeEach(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-recover-'));
    // A process in a stand-in freezer cgroup (its state file as the kernel's, FROZEN).
    frozen = spawn('sleep', ['60']);
    await new Promise((r) => setTimeout(r, 50));
    cgroupDir = path.join(stateDir, 'fake-cgroup');
    fs.mkdirSync(cgroupDir);
    fs.writeFileSync(path.join(cgroupDir, 'cgroup.procs'), `${frozen.pid}\n`);
    fs.writeFileSync(path.join(cgroupDir, 'freezer.state'), 'FROZEN\n');
  });

  afterEach(() => {
    frozen.kill('SIGKILL');
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const freezer = (): string => fs.readFileSync(path.join(cgroupDir, 'freezer.state'), 'utf8').trim();

  function sourceRecord(commitSent: boolean, committed = false, volumes: string[] = [], destination = 'node2'): void {
    const r: MigrationRecord = { role: 'source', migrationId: 'm1', destination, containerId: 'c1', name: 'web',
      cgroupDir, commitSent, committed, keepSource: false, volumes, leaseMs: 300 };
    writeRecord(path.join(migrationsDir(stateDir), 'm1'), r);
  }

  async function recover(answer: MigrationState | null): Promise<{ calls: string[]; asked: string[] }> {
    const calls: string[] = [];
    const asked: string[] = [];
    const ask: CommitQuery = async (dest, id) => {
      asked.push(`${dest} ${id}`);
      return answer;
    };
    await recoverMigrations(stateDir, fakeDocker(calls), () => undefined, ask);
    return { calls, asked };
  }

  it('resumes a source frozen before Commit was sent at once when the destination says it rolled back', async () => {
    sourceRecord(false);
    const started = performance.now();
    const { calls, asked } = await recover('NOT_COMMITTED');
    expect(performance.now() - started).toBeLessThan(300);
    expect(asked).toEqual(['node2 m1']);
    expect(calls).toEqual([]);
    expect(freezer()).toBe('THAWED');
    expect(alive(frozen.pid ?? 0)).toBe(true);
    expect(fs.readdirSync(migrationsDir(stateDir))).toEqual([]);
  });

  it.each<[MigrationState | null]>([[null], ['UNKNOWN']])('resumes a source frozen before Commit was sent once the lease has run out, when the answer is %s', async (answer) => {
    sourceRecord(false);
    const started = performance.now();
    const { calls } = await recover(answer);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300 + 500); // the record's lease + the margin
    expect(calls).toEqual([]);
    expect(freezer()).toBe('THAWED');
  });

  it('removes the source when the destination says the migration committed', async () => {
    sourceRecord(true);
    const { calls, asked } = await recover('COMMITTED');
    expect(asked).toEqual(['node2 m1']);
    expect(calls).toEqual(['kill c1', 'rm c1']);
    await new Promise((r) => frozen.once('exit', r)); // SIGKILLed before the thaw
    expect(freezer()).toBe('THAWED');
  });

  it('removes the moved named volumes with the source copy, unless another container uses one', async () => {
    sourceRecord(true, false, ['data', 'shared']);
    const { calls } = await recover('COMMITTED');
    expect(calls).toEqual(['kill c1', 'rm c1', 'rm volume data']);
  });

  it('resumes the source when the destination did not commit', async () => {
    sourceRecord(true);
    const { calls } = await recover('NOT_COMMITTED');
    expect(calls).toEqual([]);
    expect(freezer()).toBe('THAWED');
    expect(alive(frozen.pid ?? 0)).toBe(true);
  });

  it.each<[MigrationState | null]>([[null], ['UNKNOWN']])('leaves the source frozen after Commit, and the record, when the answer is %s', async (answer) => {
    sourceRecord(true);
    const { calls } = await recover(answer);
    expect(calls).toEqual([]);
    expect(freezer()).toBe('FROZEN');
    expect(fs.readdirSync(migrationsDir(stateDir))).toEqual(['m1']);
  });

  it('a crash between the record saying committed and the commit marker: the marker decides, the copy is removed, NOT_COMMITTED', async () => {
    writeRecord(path.join(migrationsDir(stateDir), 'm5'), { role: 'destination', containerId: 'c9', name: 'web', volumes: [], committed: true });
    const { calls } = await recover(null);
    expect(calls).toEqual(['rm c9']);
    expect(migrationState(stateDir, 'm5')).toBe('NOT_COMMITTED');
  });

  it('keeps a destination container whose commit marker is written', async () => {
    writeRecord(path.join(migrationsDir(stateDir), 'm6'), { role: 'destination', containerId: 'c9', name: 'web', volumes: [], committed: false });
    markCommitted(stateDir, 'm6');
    const { calls } = await recover(null);
    expect(calls).toEqual([]);
    expect(migrationState(stateDir, 'm6')).toBe('COMMITTED');
  });

  it('removes a target created before its record had its ID (found by name, only a restore target)', async () => {
    writeRecord(path.join(migrationsDir(stateDir), 'm7'), { role: 'destination', containerId: '', name: 'half-made', volumes: [], committed: false });
    writeRecord(path.join(migrationsDir(stateDir), 'm8'), { role: 'destination', containerId: '', name: 'someone-elses', volumes: [], committed: false });
    const { calls } = await recover(null);
    expect(calls).toEqual(['rm c7']);
  });

  it('resumes a container whose checkpoint to a file was cut off, even after its "commit" (the file runs nothing)', async () => {
    sourceRecord(true, false, [], 'file:/srv/web.ckpt');
    const { calls, asked } = await recover(null);
    expect(asked).toEqual([]);
    expect(calls).toEqual([]);
    expect(freezer()).toBe('THAWED');
  });

  it('removes a half-made destination container and its volumes', async () => {
    writeRecord(path.join(migrationsDir(stateDir), 'm2'),
      { role: 'destination', containerId: 'c9', name: 'web', volumes: ['data'], committed: false });
    const { calls } = await recover(null);
    expect(calls).toEqual(['rm c9', 'rm volume data']);
  });

  it('discards a finished work dir at once, deleting it in the background; a restart empties the trash', async () => {
    const workDir = path.join(migrationsDir(stateDir), 'm4');
    fs.mkdirSync(path.join(workDir, 'images'), { recursive: true });
    fs.writeFileSync(path.join(workDir, 'images', 'pages-1.img'), Buffer.alloc(1 << 20));
    discardWorkDir(stateDir, workDir);
    expect(fs.readdirSync(migrationsDir(stateDir))).toEqual([]);
    for (let i = 0; fs.readdirSync(path.join(stateDir, 'trash')).length > 0; i++) {
      expect(i).toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 10));
    }
    fs.mkdirSync(path.join(stateDir, 'trash', 'left-by-a-crash'), { recursive: true });
    await recover(null);
    expect(fs.existsSync(path.join(stateDir, 'trash'))).toBe(false);
  });

  it('keeps commit markers for sources that ask later', () => {
    expect(isCommitted(stateDir, 'm3')).toBe(false);
    markCommitted(stateDir, 'm3');
    expect(isCommitted(stateDir, 'm3')).toBe(true);
    expect(isCommitted(stateDir, '../m3')).toBe(false);
  });
});
