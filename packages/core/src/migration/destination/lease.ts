// The destination's end of the lease (protocol/lease.ts): beats from the checkpoint's End on; the
// restored copy resumes only under a lease (an echoed beat, sent less than L ago) and its fence
// armed; each echo moves the deadline to (that beat's send time) + L; past it the migration fails
// (the caller rolls back) and the fence kills the copy even if this agent can no longer act.
import type { DestinationChannel } from '../../protocol/channels';
import { beatEveryMs } from '../../protocol/lease';
import { MigrationError } from '../../protocol/migration-error';
import type { MigrateReply, MigrateRequest } from '../../rpc/messages';
import type { Fence } from './fence';

export interface LeaseSetup {
  leaseMs: number;
  send: (reply: MigrateReply) => void;
  /** Starts the fence of the copy whose PID namespace init is `helperPid`, `ms` left. */
  startFence: (helperPid: number, ms: number) => Fence;
}

export class DestinationLease {
  private seq = 0;
  /** Beats not yet echoed: their send times. */
  private readonly sentAt = new Map<number, number>();
  private deadline = -Infinity;
  private beats: NodeJS.Timeout | undefined;
  private expiry: NodeJS.Timeout | undefined;
  private fence: Fence | undefined;
  private echoed: (() => void) | undefined;
  private fail: (err: Error) => void = () => undefined;
  private over = false;
  /** The expiry fired (a timer may fire a little before performance.now() reaches the deadline). */
  private ranOut = false;
  /** Largest gap between two echoes, for the log (how close a healthy link came to L). */
  maxEchoGapMs = 0;
  private lastEchoAt: number | undefined;
  /** Rejects once the lease has run out (only after hold(): before, nothing runs here). */
  readonly expired: Promise<never>;

  constructor(private readonly s: LeaseSetup) {
    this.expired = new Promise<never>((_resolve, reject) => (this.fail = reject));
    this.expired.catch(() => undefined); // raced by the phases that wait; unobserved otherwise
  }

  get leaseMs(): number {
    return this.s.leaseMs;
  }

  /** From the checkpoint's End on: a beat now and every L/4. */
  startBeats(): void {
    if (this.beats || this.over) return;
    const beat = (): void => {
      const seq = ++this.seq;
      this.sentAt.set(seq, performance.now());
      this.s.send({ body: 'heartbeat', heartbeat: { seq } });
    };
    beat();
    this.beats = setInterval(beat, beatEveryMs(this.s.leaseMs));
  }

  /**
   * Requests from the source, read from now on as they come (echoes must extend the lease while
   * the phases wait on other things: the restore, the memory), with the echoes taken out.
   */
  requests(ch: DestinationChannel): DestinationChannel {
    const queued: Array<Promise<IteratorResult<MigrateRequest>>> = [];
    const waiting: Array<(r: Promise<IteratorResult<MigrateRequest>>) => void> = [];
    let last: Promise<IteratorResult<MigrateRequest>> | undefined; // the end (or error), for every later read
    const deliver = (r: Promise<IteratorResult<MigrateRequest>>, end = false): void => {
      r.catch(() => undefined); // read by next(), maybe later
      if (end) last = r;
      const w = waiting.shift();
      if (w) w(r);
      else if (!end) queued.push(r);
      for (const more of end ? waiting.splice(0) : []) more(r);
    };
    void (async () => {
      for (;;) {
        let r: IteratorResult<MigrateRequest>;
        try {
          r = await ch.requests.next();
        } catch (err) {
          return deliver(Promise.reject(err), true);
        }
        if (!r.done && r.value.body === 'heartbeat') {
          this.echo(r.value.heartbeat.seq);
          continue;
        }
        deliver(Promise.resolve(r), r.done);
        if (r.done) return;
      }
    })();
    return {
      send: (reply) => ch.send(reply),
      requests: {
        next: () => {
          const r = queued.shift() ?? last;
          if (r) return r;
          return new Promise<Promise<IteratorResult<MigrateRequest>>>((resolve) => waiting.push(resolve)).then((p) => p);
        },
      },
    };
  }

  /** An echo of beat `seq`: the source read it, so it will not thaw before its send time + L (+ margin). */
  echo(seq: number): void {
    const sent = this.sentAt.get(seq);
    if (sent === undefined || this.over) return; // echoed twice, or a beat never sent: extends nothing
    for (const s of this.sentAt.keys()) if (s <= seq) this.sentAt.delete(s);
    const now = performance.now();
    if (this.lastEchoAt !== undefined) this.maxEchoGapMs = Math.max(this.maxEchoGapMs, now - this.lastEchoAt);
    this.lastEchoAt = now;
    if (sent + this.s.leaseMs <= this.deadline) return;
    this.deadline = sent + this.s.leaseMs;
    this.echoed?.();
    if (!this.fence) return;
    this.fence.extend(this.deadline - now);
    this.armExpiry();
  }

  /**
   * Right before the copy resumes: waits (at most L) for a lease, then arms the fence on the
   * copy's PID namespace init. Throws, and nothing resumes, if no echo comes.
   */
  async hold(helperPid: number): Promise<void> {
    if (this.deadline <= performance.now()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.s.leaseMs);
        this.echoed = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.echoed = undefined;
    }
    const left = this.deadline - performance.now();
    if (left <= 0 || this.over) throw new MigrationError('failed', `no heartbeat echoed by the source within the lease (${this.s.leaseMs} ms): not resuming the copy here`);
    this.fence = this.s.startFence(helperPid, left);
    this.armExpiry();
  }

  private armExpiry(): void {
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => {
      this.ranOut = true;
      this.stopBeats();
      this.fail(new MigrationError('failed', `the lease ran out: no echo from the source for ${this.s.leaseMs} ms (link cut, or the source stopped); the copy here is killed`));
    }, Math.max(0, this.deadline - performance.now()));
  }

  /**
   * Commit came: the fence stands down, for good, unless it fired first (then the copy is dead
   * and must not be committed). Beats go on until Committed is sent (stop()).
   */
  async confirm(): Promise<void> {
    clearTimeout(this.expiry);
    const late = this.ranOut || this.deadline <= performance.now();
    const disarmed = this.fence ? await this.fence.disarm() : true;
    this.fence = undefined;
    if (late || !disarmed) throw new MigrationError('failed', `Commit came after the lease ran out (${this.s.leaseMs} ms): the copy here was killed`);
  }

  private stopBeats(): void {
    clearInterval(this.beats);
    this.beats = undefined;
  }

  /** The migration is over (committed, or rolling back): no beats, no timers, no fence. */
  stop(): void {
    this.over = true;
    this.stopBeats();
    clearTimeout(this.expiry);
    this.fence?.stop();
    this.fence = undefined;
  }
}
