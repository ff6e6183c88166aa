import { rpcErrorMessage, type AgentClient, type PhaseEvent, type ProgressEvent } from '@livemig/core';
import { formatPhase } from './format-summary';
import { ProgressBar } from './progress-bar';

type Streamed = { body: 'phase'; phase: PhaseEvent } | { body: 'progress'; progress: ProgressEvent };

/**
 * Reads an agent's stream of phase and progress events (printed unless `json`) and returns the
 * others (a push's summary, a checkpoint's result); closes the client.
 */
export async function followPhases<R extends { body: string }>(call: AsyncIterable<Streamed | R>, client: AgentClient, json: boolean): Promise<R[]> {
  const results: R[] = [];
  const bar = new ProgressBar();
  try {
    for await (const ev of call) {
      if (ev.body === 'phase' || ev.body === 'progress') {
        if (json) continue;
        const e = ev as Streamed;
        if (e.body === 'progress') bar.update(e.progress);
        else {
          bar.clear();
          console.log(formatPhase(e.phase));
        }
      } else results.push(ev as R);
    }
  } catch (err) {
    throw new Error(rpcErrorMessage(err, client.address));
  } finally {
    bar.clear();
    client.close();
  }
  return results;
}
