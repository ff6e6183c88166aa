// The source's orchestrator over a fake destination: the real phases (pre-copy of a real
// process's memory, the freeze, the tar stream, the commit exchange, the cleanup), with a
// stand-in criu, a stand-in freezer cgroup (a dir with its state file) and a fake Docker.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ContainerInspect, DockerClient } from '../../docker/docker-client';
import type { SourceChannel } from '../../protocol/channels';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateReply, MigrateRequest, MigrationState, PushEvent } from '../../rpc/messages';
import { DEFAULT_TIMEOUTS, type SourceContext } from '../context';
import { migrationsDir } from '../migration-record';
import type { SourceFacts } from './facts';
import type { PushOptions } from './one-push';
import { FreezeTurns } from './freeze-turns';
import { runPush } from './push';

// The facts come from a running Docker container in the agent; here from the test.
const facts = vi.hoisted(() => ({ current: undefined as SourceFacts | undefined }));
vi.mock('./facts', async (original) => ({
  ...(await original<typeof import('./facts')>()),
  gatherFacts: async () => {
    if (!facts.current) throw new Error('no facts set');
    return facts.current;
  },
}));

/** Where the fake destination fails, and how. */
type Failure =
  | { on: 'prepare' | 'end' | 'commit'; reply: 'error' }
  | { on: 'precopyEnd' | 'diskEnd'; reply: 'wrong-count' }
  | { on: 'chunk'; send: 'error' };

/** The file data in a (round's) tar stream: what a destination's appliers would write. */
async function fileBytesIn(tarBytes: Buffer): Promise<number> {
  const extract = tar.extract();
  let n = 0;
  const done = (async () => {
    for await (const e of extract) {
      if (e.header.type === 'file') n += e.header.size ?? 0;
      e.resume();
    }
  })();
  extract.end(tarBytes);
  await done;
  return n;
}

/** A destination that answers every step as a real one would, except where told to fail. */
class FakeDestination implements SourceChannel {
  readonly sent: MigrateRequest[] = [];
  cancelled = false;
  closed = false;
  private readonly replies: Array<MigrateReply | Error> = [];
  private wake: (() => void) | undefined;
  private precopyBytes = 0;
  private disk: Buffer[] = [];

  /**
   * `beats`: a Heartbeat once End is in (as a real destination's lease sends them). `onSend`:
   * called with each request as it is sent (a test stopping the agent there).
   */
  constructor(
    private readonly failure?: Failure,
    private readonly o: { beats?: boolean; onSend?: (req: MigrateRequest) => void } = {},
  ) {}

  async send(req: MigrateRequest): Promise<void> {
    if (this.cancelled) throw new Error('the fake call is cancelled');
    this.o.onSend?.(req);
    const f = this.failure;
    if (f && 'send' in f && f.on === req.body) throw new Error(`the fake destination refuses ${req.body}`);
    this.sent.push(req);
    if (req.body === 'precopy') this.precopyBytes += req.precopy.data.length; // uncompressed (level 0)

    if (req.body === 'end' && this.o.beats) this.queue({ body: 'heartbeat', heartbeat: { seq: 1 } });
    const fails = f && 'reply' in f && f.on === req.body;
    if (fails && f.reply === 'error') return this.queue(new MigrationError('failed', `the fake destination fails at ${req.body}`));
    if (req.body === 'disk') this.disk.push(req.disk.data);
    if (req.body === 'diskEnd') {
      const bytes = (await fileBytesIn(Buffer.concat(this.disk.splice(0)))) + (fails ? 1 : 0);
      this.queue({ body: 'diskStored', diskStored: { entries: 0, bytes } });
    }
    if (req.body === 'prepare') this.queue({ body: 'prepared', prepared: { containerId: 'c0ffee', nodeName: 'node2' } });
    if (req.body === 'precopyEnd') {
      const pages = this.precopyBytes / 4096 + (fails ? 1 : 0);
      this.queue({ body: 'precopyStored', precopyStored: { pages } });
    }
    if (req.body === 'end') {
      this.queue({ body: 'restored', restored: { receiveMs: 1, restoreMs: 2, appPid: 42, lazyPages: false, pagesInMs: 0 } });
    }
    if (req.body === 'commit') this.queue({ body: 'committed', committed: {} });
  }

  async reply(): Promise<MigrateReply> {
    while (this.replies.length === 0) await new Promise<void>((r) => (this.wake = r));
    const r = this.replies.shift() as MigrateReply | Error;
    if (r instanceof Error) throw r;
    return r;
  }

  cancel(): void {
    this.cancelled = true;
    this.queue(new Error('the fake call is cancelled')); // as gRPC fails a pending read
  }

  close(): void {
    this.closed = true;
  }

  bodies(): string[] {
    return [...new Set(this.sent.map((r) => r.body))];
  }

  private queue(r: MigrateReply | Error): void {
    this.replies.push(r);
    this.wake?.();
  }
}

describe('runPush (source orchestrator, fake destination)', () => {
  let dir: string;
  let app: ChildProcess;
  let cgroupDir: string;
  let dockerCalls: string[];
  let events: PushEvent[];

  const criu = (name: string, script: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    return p;
  };
  const freezer = (): string => fs.readFileSync(path.join(cgroupDir, 'freezer.state'), 'utf8').trim();
  const records = (): string[] => (fs.existsSync(migrationsDir(path.join(dir, 'state'))) ? fs.readdirSync(migrationsDir(path.join(dir, 'state'))) : []);

  function context(criuPath: string, askCommitted: SourceContext['askCommitted'] = async () => 'NOT_COMMITTED'): SourceContext {
    const docker: Partial<DockerClient> = {
      inspectContainer: async (id) => ({ Id: id }) as ContainerInspect,
      killContainer: async (id) => void dockerCalls.push(`kill ${id}`),
      removeContainer: async (id) => void dockerCalls.push(`rm ${id}`),
      containersUsingVolume: async () => [],
      removeVolume: async (v) => void dockerCalls.push(`rm volume ${v}`),
    };
    return {
      docker: docker as DockerClient,
      nodeName: 'node1',
      stateDir: path.join(dir, 'state'),
      memScratchDir: '',
      criuPath,
      log: () => undefined,
      inFlight: new Set(),
      timeouts: { ...DEFAULT_TIMEOUTS, commitMs: 2_000 },
      askCommitted,
      leaseMs: 300,
    };
  }

  function options(ch: FakeDestination): PushOptions {
    return {
      container: 'web', destination: 'node2:7411', keepSource: false, compressLevel: 0, serial: false, precopy: true,
      lazyPages: 'LAZY_PAGES_AUTO', connect: async () => ch, emit: (ev) => events.push(ev),
    };
  }

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'livemig-push-'));
    dockerCalls = [];
    events = [];
    app = spawn('sleep', ['60']);
    await new Promise((r) => setTimeout(r, 50));
    cgroupDir = path.join(dir, 'cgroup');
    fs.mkdirSync(cgroupDir);
    fs.writeFileSync(path.join(cgroupDir, 'cgroup.procs'), `${app.pid}\n`);
    fs.writeFileSync(path.join(cgroupDir, 'freezer.state'), 'THAWED\n');
    const upperDir = path.join(dir, 'upper');
    fs.mkdirSync(upperDir);
    fs.writeFileSync(path.join(upperDir, 'written-by-the-app'), 'data');
    await new Promise((r) => setTimeout(r, 150)); // older than the racy window: a round's copy of it is final
    facts.current = {
      inspect: { Id: 'abc123', Name: '/web', HostConfig: {} } as ContainerInspect,
      name: 'web',
      cold: false,
      dumpPid: app.pid as number,
      mounts: [],
      upperDir,
      freezerDir: cgroupDir,
      prepare: { container: { mounts: [] } as never, tree: { externalMounts: '', stdio: [] } },
      dockerMountTargets: [],
      estimatedBytes: 1024 * 1024,
      memoryBytes: 512 * 1024,
      fileBytes: 4,
      logBytes: 0,
    };
  });

  afterEach(() => {
    app.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const dumps = (): string => criu('criu', 'echo image > inventory.img; echo "(00.01) Dumping finished successfully" > dump.log');

  it('runs the phases in protocol order, then removes the source copy', async () => {
    const ch = new FakeDestination();
    const summary = await runPush(context(dumps()), options(ch));
    expect(ch.bodies()).toEqual(['prepare', 'disk', 'diskEnd', 'diskDone', 'precopy', 'precopyEnd', 'chunk', 'end', 'commit']);
    const started = events.flatMap((e) => (e.body === 'phase' && e.phase.state === 'start' ? [e.phase.name] : []));
    expect(started).toEqual(['preflight', 'disk', 'precopy', 'dump', 'transfer', 'restore', 'cleanup']);
    // The upper dir went in a round while the container ran; frozen, nothing of it had changed.
    expect(summary.diskRounds.map((r) => r.fileBytes)).toEqual([4]);
    expect(summary).toMatchObject({ container: 'web', destinationNode: 'node2', destinationContainerId: 'c0ffee', sourceKept: false, sourceCleanupError: '' });
    expect(summary.precopyBytesRaw).toBeGreaterThan(0);
    expect(summary.rootfsBytes).toBe(0);
    expect(ch.closed).toBe(true);
    expect(ch.cancelled).toBe(false);
    expect(dockerCalls).toEqual(['kill abc123', 'rm abc123']);
    expect(records()).toEqual([]);
  });

  it.each([false, true])('takes its turn to freeze after the pre-copy; with turnBeforeCopy (a drain\'s next push) before the disk rounds and the pre-copy: %s', async (turnBeforeCopy) => {
    const turns = new FreezeTurns();
    const other = await turns.take(); // another push of this agent copies, or its container is frozen
    const ch = new FakeDestination();
    const pushing = runPush({ ...context(dumps()), freezeTurns: turns }, { ...options(ch), turnBeforeCopy });
    await vi.waitFor(() => expect(ch.bodies()).toContain(turnBeforeCopy ? 'prepare' : 'precopyEnd'));
    await new Promise((r) => setTimeout(r, 150));
    // Never frozen out of turn; with turnBeforeCopy, nothing copied before it either.
    expect(ch.bodies()).toEqual(turnBeforeCopy ? ['prepare'] : ['prepare', 'disk', 'diskEnd', 'diskDone', 'precopy', 'precopyEnd']);
    other.release();
    await pushing;
    expect(ch.bodies()).toEqual(['prepare', 'disk', 'diskEnd', 'diskDone', 'precopy', 'precopyEnd', 'chunk', 'end', 'commit']);
  });

  it('with turnBeforeCopy, copies anyway once turnBeforeCopyMs passed (its stream is not silent longer), still frozen only in turn', async () => {
    const turns = new FreezeTurns();
    const other = await turns.take();
    const ch = new FakeDestination();
    const ctx = { ...context(dumps()), freezeTurns: turns };
    const pushing = runPush({ ...ctx, timeouts: { ...ctx.timeouts, turnBeforeCopyMs: 100 } }, { ...options(ch), turnBeforeCopy: true });
    await vi.waitFor(() => expect(ch.bodies()).toContain('precopyEnd'));
    expect(ch.bodies()).not.toContain('chunk'); // the turn still comes before the freeze
    other.release();
    await pushing;
    expect(ch.bodies()).toContain('chunk');
  });

  it('a push failing while its turn is still queued gives the turn back once it comes', async () => {
    const turns = new FreezeTurns();
    const other = await turns.take();
    const ch = new FakeDestination({ on: 'precopyEnd', reply: 'wrong-count' });
    const ctx = { ...context(dumps()), freezeTurns: turns };
    await expect(runPush({ ...ctx, timeouts: { ...ctx.timeouts, turnBeforeCopyMs: 50 } }, { ...options(ch), turnBeforeCopy: true })).rejects.toThrow('pre-copied pages');
    other.release();
    const next = await Promise.race([turns.take(), new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 1_000))]);
    expect(next).not.toBe('stuck');
  });

  it('a stopped container moves cold: Prepare (cold), the disk rounds, Commit; no freeze, no dump, no pre-copy', async () => {
    const ch = new FakeDestination();
    facts.current = { ...(facts.current as SourceFacts), cold: true, dumpPid: 0, freezerDir: '', estimatedBytes: 0, memoryBytes: 0 };
    const summary = await runPush(context(criu('criu', 'exit 1')), options(ch));
    expect(ch.bodies()).toEqual(['prepare', 'disk', 'diskEnd', 'diskDone', 'commit']);
    const prepare = ch.sent[0].body === 'prepare' ? ch.sent[0].prepare : undefined;
    expect(prepare).toMatchObject({ cold: true, diskRounds: true, precopyBytes: 0, lazyRestore: 'LAZY_RESTORE_NO' });
    expect(summary).toMatchObject({ cold: true, downtimeMs: 0, criuImageBytes: 0, frozenBytesRaw: 0, sourceCleanupError: '' });
    expect(summary.diskRounds.map((r) => r.fileBytes)).toEqual([4]);
    expect(freezer()).toBe('THAWED');
    expect(dockerCalls).toEqual(['kill abc123', 'rm abc123']);
    expect(records()).toEqual([]);
  });

  it('a cold move refused at Commit leaves the stopped container here as it was', async () => {
    const ch = new FakeDestination({ on: 'commit', reply: 'error' });
    facts.current = { ...(facts.current as SourceFacts), cold: true, dumpPid: 0, freezerDir: '', estimatedBytes: 0, memoryBytes: 0 };
    await expect(runPush(context(criu('criu', 'exit 1')), options(ch))).rejects.toThrow(/did not commit/);
    expect(ch.cancelled).toBe(true);
    expect(dockerCalls).toEqual([]);
    expect(records()).toEqual([]);
  });

  // Before the freeze: refused or failed, nothing is frozen and nothing is left.
  it.each<[string, Failure]>([
    ['prepare', { on: 'prepare', reply: 'error' }],
    ['disk', { on: 'diskEnd', reply: 'wrong-count' }],
    ['precopy', { on: 'precopyEnd', reply: 'wrong-count' }],
  ])('a failure at %s freezes nothing', async (_phase, failure) => {
    const ch = new FakeDestination(failure);
    await expect(runPush(context(dumps()), options(ch))).rejects.toThrow(MigrationError);
    expect(ch.sent.some((r) => r.body === 'chunk')).toBe(false);
    expect(freezer()).toBe('THAWED');
    expect(ch.cancelled).toBe(true);
    expect(dockerCalls).toEqual([]);
    expect(records()).toEqual([]);
  });

  // After the freeze: every failure resumes the container here and removes the checkpoint.
  it.each<[string, Failure | undefined, string]>([
    ['dump', undefined, 'fake dump failed'],
    ['transfer', { on: 'chunk', send: 'error' }, 'refuses chunk'],
    ['restore', { on: 'end', reply: 'error' }, 'fails at end'],
    ['commit (destination says not committed)', { on: 'commit', reply: 'error' }, 'did not commit'],
  ])('a failure at %s rolls back: thawed, running here, nothing left', async (phase, failure, why) => {
    const ch = new FakeDestination(failure);
    const criuPath = phase === 'dump'
      ? criu('criu', 'echo "Error (criu/cr-dump.c:1): fake dump failed" > dump.log; exit 1')
      : dumps();
    const err = await runPush(context(criuPath), options(ch)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).toMatch(/rolled back: web is running on node1$/);
    expect(freezer()).toBe('THAWED');
    expect(ch.cancelled).toBe(true);
    expect(dockerCalls).toEqual([]);
    expect(records()).toEqual([]);
    expect(() => process.kill(app.pid as number, 0)).not.toThrow();
  });

  it('keeps CRIU\'s log of a failed dump', async () => {
    const ch = new FakeDestination();
    const err = await runPush(context(criu('criu', 'echo "Error (criu/cr-dump.c:1): fake dump failed" > dump.log; exit 1')), options(ch)).catch((e: unknown) => e);
    const kept = /CRIU log kept at (\S+)/.exec((err as Error).message)?.[1] ?? /(\/\S+dump\.log)/.exec((err as Error).message)?.[1];
    expect(kept, (err as Error).message).toBeTruthy();
    expect(fs.readFileSync(kept as string, 'utf8')).toMatch(/fake dump failed/);
  });

  it('leaves the container frozen, and its record, when the commit outcome cannot be known; resumes it once the destination says NOT_COMMITTED', async () => {
    const ch = new FakeDestination({ on: 'commit', reply: 'error' });
    const answers: Array<MigrationState | null> = [null, 'UNKNOWN'];
    const err = await runPush(context(dumps(), async () => (answers.length > 0 ? (answers.shift() as MigrationState | null) : 'NOT_COMMITTED')), options(ch)).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cannot tell whether node2 committed, so web stays frozen on node1/);
    expect(freezer()).toBe('FROZEN');
    expect(records()).toHaveLength(1);
    expect(dockerCalls).toEqual([]);
    // Asked again in the background: UNKNOWN is no answer either, NOT_COMMITTED is.
    for (let i = 0; freezer() === 'FROZEN'; i++) {
      expect(i, 'thawed once the destination answers').toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(answers).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(records()).toEqual([]);
  });

  describe('the lease', () => {
    it('echoes each beat the destination sends from End on', async () => {
      const ch = new FakeDestination(undefined, { beats: true });
      await runPush(context(dumps()), options(ch));
      expect(ch.sent.filter((r) => r.body === 'heartbeat')).toEqual([{ body: 'heartbeat', heartbeat: { seq: 1 } }]);
      expect(ch.sent.findIndex((r) => r.body === 'heartbeat')).toBeGreaterThan(ch.sent.findIndex((r) => r.body === 'end'));
    });

    it.each<[string, MigrationState | null, number, number]>([
      ['cannot be asked: resumes only once the lease (300 ms) + margin (500) have run out', null, 800, 5000],
      ['has no trace of it (UNKNOWN): the same', 'UNKNOWN', 800, 5000],
      ['says it rolled back (NOT_COMMITTED): resumes at once', 'NOT_COMMITTED', 0, 400],
    ])('a failure after a beat, before Commit; the destination %s', async (_case, answer, atLeast, below) => {
      const ch = new FakeDestination({ on: 'end', reply: 'error' }, { beats: true });
      const frozenFor: number[] = [];
      let failedAt = 0;
      const err = await runPush(context(dumps(), async () => ((failedAt = performance.now()), answer)), options(ch)).catch((e: unknown) => e);
      frozenFor.push(performance.now() - failedAt);
      expect((err as Error).message).toMatch(/fails at end.*rolled back: web is running on node1$/);
      expect(freezer()).toBe('THAWED');
      expect(frozenFor[0]).toBeGreaterThanOrEqual(atLeast - 20); // the ask starts right after the failure
      expect(frozenFor[0]).toBeLessThan(below);
    });

    it('a failure after End with no beat read: the destination cannot have resumed, so no wait', async () => {
      const ch = new FakeDestination({ on: 'end', reply: 'error' });
      const started = performance.now();
      await expect(runPush(context(dumps(), async () => null), options(ch))).rejects.toThrow(/rolled back/);
      expect(performance.now() - started).toBeLessThan(800);
      expect(freezer()).toBe('THAWED');
    });
  });

  // SIGTERM to the agent: before Commit the push rolls back (nothing frozen is left frozen); once
  // the commit exchange has begun it finishes.
  it.each([
    ['the pre-copy (before the freeze)', 'precopy', 'THAWED'],
    ['the transfer (frozen)', 'chunk', 'FROZEN'],
    ['the wait for Restored', 'end', 'FROZEN'],
  ])('the agent stopping during %s rolls back: running here, nothing left', async (_when, at, stateThen) => {
    const stopping = new AbortController();
    let freezerThen = '';
    const ch = new FakeDestination(undefined, {
      onSend: (req) => {
        if (req.body !== at || stopping.signal.aborted) return;
        freezerThen = freezer();
        stopping.abort();
      },
    });
    const err = await runPush(context(dumps()), { ...options(ch), signal: stopping.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^the agent on node1 is stopping \(SIGTERM\)/);
    if (at !== 'precopy') expect((err as Error).message).toMatch(/rolled back: web is running on node1$/);
    expect(ch.sent.some((r) => r.body === 'commit')).toBe(false);
    expect(freezerThen).toBe(stateThen);
    expect(freezer()).toBe('THAWED');
    expect(ch.cancelled).toBe(true);
    expect(dockerCalls).toEqual([]);
    expect(records()).toEqual([]);
    expect(() => process.kill(app.pid as number, 0)).not.toThrow();
  });

  it('the agent stopping once Commit is on its way: the push finishes', async () => {
    const stopping = new AbortController();
    const ch = new FakeDestination(undefined, { onSend: (req) => req.body === 'commit' && stopping.abort() });
    const summary = await runPush(context(dumps()), { ...options(ch), signal: stopping.signal });
    expect(summary.destinationNode).toBe('node2');
    expect(ch.cancelled).toBe(false);
    expect(dockerCalls).toEqual(['kill abc123', 'rm abc123']);
    expect(records()).toEqual([]);
  });

  it('an agent already stopping starts no push', async () => {
    const stopping = new AbortController();
    stopping.abort();
    const ch = new FakeDestination();
    await expect(runPush(context(dumps()), { ...options(ch), signal: stopping.signal })).rejects.toThrow('the agent on node1 is stopping (SIGTERM)');
    expect(ch.sent).toEqual([]);
  });
});
