import { AgentClient, clientCredentials, compatRefusal, DEFAULT_COMPRESS, parseCompress, rpcErrorMessage, type ContainerFacts, type PushEvent, type Transport } from '@livemig/core';
import { makePlan, selects, type DestinationRoom, type DrainFilter, type PlanEntry } from './drain-plan';
import { runMoves, type MoveResult } from './drain-run';
import { formatMoveEnd, formatMoveStart, formatPlan, formatReport, totalsOf } from './drain-report';
import { streamPush } from './push-command';

/**
 * Pushes at once by default: one. What a drain is for is that each container's downtime stays
 * what a push of it alone would be; on a small host a second push in flight takes the CPUs its
 * freeze needs, even with the freezes taking turns (freeze-turns.ts), and its own container's
 * memory changes while it waits. `scripts/bench.sh --drain-only` on the lab's 2 cores, quiet
 * machine (2026-12-03, README "Drain"): with 1 the worst downtime was within 1.25x of the
 * container's own push in 6 runs of 7 (1.00-1.36x), the drain 0.66-0.77x the time of the same
 * pushes one by one; with 2, in 1 of 6 (1.15-2.14x) for hardly less time (0.59-0.77x); 3: 0.73x,
 * 1.48x. The CPUs were 75-85% busy in a drain with 2. With 1, the next push runs ahead as far as
 * its pre-flight (facts, the destination's docker create and start: 0.3-0.6 s) while this one
 * copies, and waits in the source agent for its turn before its own disk rounds and pre-copy
 * (`ahead`, PushRequest.turnBeforeCopy; at most 30 s); this one's tail (memory copied in,
 * commit, docker rm) overlaps the next one's copying (runMoves). Alternating runs (README "Drain", 20:53-22:35): ahead
 * 0.52-0.76x, every downtime within 1.25x in 8 runs of 12; the same with the pre-flight behind
 * the last restore 0.62-0.88x, 2 of 6. The 2 CPUs bound it (the drain leaves them ~15% idle). On
 * hosts with cores to spare, --parallel 2 or more shortens the drain (each of N pushes copies
 * while the others do; the freezes still take turns).
 */
export const DEFAULT_PARALLEL = 1;

export interface DrainArgs {
  agent: string;
  transport: Transport;
  to: string[];
  filters: DrainFilter[];
  parallel: number;
  dryRun: boolean;
  json: boolean;
  /** Stopped containers too (`docker ps -a`): they move cold, created there, not started. */
  includeStopped: boolean;
}

/** Each --to agent's room, asked agent to agent (PeerStatus); an unreachable one is a note. */
async function destinationRooms(client: AgentClient, to: readonly string[]): Promise<{ rooms: DestinationRoom[]; notes: string[]; self: string }> {
  const rooms: DestinationRoom[] = [];
  const notes: string[] = [];
  let self = '';
  for (const address of to) {
    const s = await client.peerStatus(address);
    self = s.local.nodeName;
    if (!s.peer) notes.push(`destination ${address} left out: ${s.peerError || 'no answer'}`);
    else if (s.peer.nodeName === self) notes.push(`destination ${address} left out: it is this host (${self})`);
    else if (!s.peer.criuCheckOk) notes.push(`destination ${address} left out: criu check fails there: ${s.peer.criuCheckMessage}`);
    else if (compatRefusal(s.local, s.peer)) notes.push(`destination ${address} left out: ${compatRefusal(s.local, s.peer)} (migrate-cli doctor --to ${address})`);
    else rooms.push({ address, nodeName: s.peer.nodeName, memoryBytes: s.peer.memoryAvailableBytes, diskBytes: s.peer.diskAvailableBytes });
  }
  return { rooms, notes, self };
}

/** `migrate-cli drain --to HOST[,HOST...]`: plans, then moves every selected container of this host. */
export async function drainCommand(a: DrainArgs): Promise<void> {
  const t0 = performance.now();
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  const say = (line: string): void => void (a.json ? process.stderr : process.stdout).write(`${line}\n`);
  let stopping = false;
  const onSigint = (): void => {
    if (!stopping) say('interrupted: the moves in flight finish, no new one starts');
    stopping = true;
  };
  try {
    const { rooms, notes } = await destinationRooms(client, a.to);
    // Stopped containers only with --include-stopped: by default a drain moves what runs (docker ps).
    const selected = (all: readonly ContainerFacts[]): ContainerFacts[] => all.filter((c) => (c.running || a.includeStopped) && selects(a.filters, c));
    const before = (await client.inventory()).containers;
    const plan = makePlan(selected(before), [], rooms);
    if (!rooms.length) notes.push('no destination can take containers');
    if (a.dryRun) {
      console.log(a.json ? JSON.stringify({ plan, destinations: rooms, notes }, null, 2) : formatPlan(plan, notes));
      return;
    }
    say(formatPlan(plan, notes));
    process.on('SIGINT', onSigint);
    const ahead = a.parallel === 1;
    const results = await runMoves(plan, {
      parallel: a.parallel,
      ahead,
      stopping: () => stopping,
      move: (e, handOn) => moveOne({ client, e, t0, say, ahead, handOn }),
    });
    process.off('SIGINT', onSigint);
    const after = selected((await client.inventory()).containers);
    const remaining = after.map((c) => c.name);
    const totals = totalsOf(results, performance.now() - t0);
    console.log(a.json ? JSON.stringify({ plan, destinations: rooms, notes, results, totals, remaining }, null, 2) : formatReport(results, totals, remaining));
    if (remaining.length) process.exitCode = 1;
  } catch (err) {
    throw new Error(rpcErrorMessage(err, client.address));
  } finally {
    process.off('SIGINT', onSigint);
    client.close();
  }
}

interface MoveOne {
  client: AgentClient;
  e: PlanEntry;
  t0: number;
  say: (line: string) => void;
  /** The next move's pre-flight runs while this one copies: this one's disk rounds and pre-copy wait for its turn to be frozen. */
  ahead: boolean;
  /** The next move may start: this one's disk rounds, pre-copy or freeze began (`ahead`), or its container runs on the destination. */
  handOn: () => void;
}

/** The push's event after which the next move may start. */
function handsOn(ev: PushEvent, ahead: boolean): boolean {
  if (ev.body !== 'phase') return false;
  const { name, state } = ev.phase;
  // Ahead: its turn taken (or the source's wait for it ran out), it copies: the disk rounds, the
  // pre-copy (or, without them, it freezes); the next one's pre-flight keeps out of the freeze by
  // itself (freeze turns).
  if (ahead && state === 'start' && (name === 'disk' || name === 'precopy' || name === 'dump')) return true;
  return name === 'restore' && state === 'done';
}

async function moveOne({ client, e, t0, say, ahead, handOn }: MoveOne): Promise<MoveResult> {
  say(formatMoveStart(e, performance.now() - t0));
  let r: MoveResult;
  try {
    const s = await streamPush(client, {
      container: e.id, destination: e.destination, keepSource: false, compressLevel: parseCompress(DEFAULT_COMPRESS),
      serial: false, noPrecopy: false, lazyPages: 'LAZY_PAGES_AUTO', turnBeforeCopy: ahead,
    }, (ev) => {
      if (handsOn(ev, ahead)) handOn();
    });
    r = { container: e.container, destination: s.destinationNode, result: 'moved', reason: '', downtimeMs: s.downtimeMs, totalMs: s.totalMs, bytesWire: s.bytesWire };
  } catch (err) {
    r = { container: e.container, destination: e.destinationNode, result: 'failed', reason: err instanceof Error ? err.message.split('\n')[0] : String(err), downtimeMs: 0, totalMs: 0, bytesWire: 0 };
  }
  say(formatMoveEnd(r, performance.now() - t0));
  return r;
}
