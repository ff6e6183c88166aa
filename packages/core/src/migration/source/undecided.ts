// Commit sent and no answer (the link cut, the destination stopped or restarting): the tree stays
// frozen here, and the destination is asked again until it says COMMITTED or NOT_COMMITTED, so a
// link that comes back settles it without an operator (a restart of this agent does the same).
import { discardWorkDir } from '../migration-record';
import { settleSource } from '../recover-migrations';
import type { Push } from './one-push';

/** How long between two questions to a destination that did not answer. */
const ASK_EVERY_MS = 2_000;

export function settleLater(p: Push): void {
  const { ctx, state } = p;
  const record = state.record;
  if (!record) return;
  const again = (): void => {
    settleSource(ctx.docker, { ...record, commitSent: true }, ctx.askCommitted, () => undefined).then(
      (done) => {
        if (done === 'frozen') return void setTimeout(again, ASK_EVERY_MS);
        ctx.log(`push of ${record.name}: ${done === 'removed' ? `${ctx.nodeName}'s copy removed: it committed on the destination` : `resumed on ${ctx.nodeName}: the destination did not commit`}`);
        discardWorkDir(ctx.stateDir, state.workDir, state.scratch);
      },
      (err: unknown) => {
        ctx.log(`push of ${record.name}: settling it failed (${err instanceof Error ? err.message : String(err)}); asked again`);
        setTimeout(again, ASK_EVERY_MS);
      },
    );
  };
  setTimeout(again, ASK_EVERY_MS);
}
