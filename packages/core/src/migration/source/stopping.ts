// A source agent told to stop (SIGTERM) must not leave a container frozen: each push in flight
// rolls back (the stream cancelled, it fails where it is, and the rollback thaws what it froze),
// except one whose commit exchange has begun: only the destination can say then which copy
// lives, so it runs to its end.
import { MigrationError } from '../../protocol/migration-error';
import type { SourceContext } from '../context';
import type { Push } from './one-push';

/** The reason a push rolled back because its agent stops. */
export function agentStopping(ctx: SourceContext): MigrationError {
  return new MigrationError('aborted', `the agent on ${ctx.nodeName} is stopping (SIGTERM)`);
}

/** Cancels the push's stream once its agent stops, unless it is committing; `off()` when the push ends. */
export function cancelWhenStopping(p: Push): { stopped: () => boolean; off: () => void } {
  const signal = p.opts.signal;
  let stopped = false;
  const onStop = (): void => {
    if (p.state.committing) return;
    stopped = true;
    p.ch.cancel();
  };
  if (signal?.aborted) onStop();
  else signal?.addEventListener('abort', onStop, { once: true });
  return { stopped: () => stopped, off: () => signal?.removeEventListener('abort', onStop) };
}
