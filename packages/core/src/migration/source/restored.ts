// Resumed? -> Restored: the destination restores the checkpoint into the target. Eagerly, the
// container runs there from Restored on; lazily, from Resumed on, and Restored follows once its
// memory is all in (the source keeps its frozen copy until then).
import { MigrationError } from '../../protocol/migration-error';
import { within } from '../../protocol/within';
import type { Prepared, Restored } from '../../rpc/messages';
import { trace } from '../../util/trace';
import { busyUntil } from './freeze-turns';
import type { Push } from './one-push';

export interface RestoredThere {
  restored: Restored;
  /** Freeze -> the container runs on the destination. */
  downtimeMs: number;
}

export async function awaitRestored(p: Push, prepared: Prepared, freezeAt: number): Promise<RestoredThere> {
  const { ctx, f, ch, clock } = p;
  clock.start('restore');
  let reply = await within(ctx.timeouts.restoreMs, "the destination's restored reply", ch.reply());
  const downtimeMs = performance.now() - freezeAt;
  p.state.freezeTurn?.release(); // it runs there now: the next container may be frozen
  const resumed = reply.body === 'resumed';
  if (reply.body === 'resumed') {
    trace('src: resumed');
    clock.done('restore', `criu restore ${reply.resumed.restoreMs.toFixed(0)} ms; ${f.name} runs on ${prepared.nodeName}`);
    clock.start('lazy-pages', 'its memory is copied in while it runs');
    const pagesIn = within(ctx.timeouts.restoreMs, "the destination's restored reply", ch.reply());
    // Copying its memory in takes the destination's CPU: the next freeze waits for it (bounded).
    reply = await busyUntil(ctx.freezeTurns, pagesIn);
  }
  if (reply.body !== 'restored' || reply.restored.lazyPages !== resumed) {
    throw new MigrationError('protocol', `destination sent ${reply.body}${reply.body === 'restored' ? ` (lazy: ${reply.restored.lazyPages})` : ''}, expected restored`);
  }
  const restored = reply.restored;
  trace('src: restored');
  // The destination's share: first chunk to everything applied, and criu restore itself.
  clock.phaseMs['destination-receive'] = restored.receiveMs;
  clock.phaseMs['criu-restore'] = restored.restoreMs;
  if (restored.lazyPages) clock.done('lazy-pages', `memory copied in over ${restored.pagesInMs.toFixed(0)} ms`);
  else clock.done('restore', `criu restore ${restored.restoreMs.toFixed(0)} ms`);
  return { restored, downtimeMs };
}
