import { AgentClient, clientCredentials, rpcErrorMessage, type PushEvent, type PushRequest, type Summary, type Transport } from '@livemig/core';
import { followPhases } from './follow-phases';
import { formatSummary } from './format-summary';

export interface PushArgs {
  agent: string;
  transport: Transport;
  container: string;
  to: string;
  keepSource: boolean;
  compress: number;
  serial: boolean;
  precopy: boolean;
  lazyPages: 'auto' | 'always' | 'never';
  json: boolean;
}

const LAZY_PAGES_MODES = { auto: 'LAZY_PAGES_AUTO', always: 'LAZY_PAGES_ALWAYS', never: 'LAZY_PAGES_NEVER' } as const;

/**
 * One Push call to the local agent (drain runs several): its events to `onEvent` as they come;
 * resolves with the summary, or throws with the agent's one-line reason (after the agent rolled
 * the push back).
 */
export async function streamPush(client: AgentClient, req: PushRequest, onEvent: (ev: PushEvent) => void): Promise<Summary> {
  let summary: Summary | undefined;
  try {
    for await (const ev of client.push(req) as AsyncIterable<PushEvent>) {
      if (ev.body === 'summary') summary = ev.summary;
      else onEvent(ev);
    }
  } catch (err) {
    throw new Error(rpcErrorMessage(err, client.address));
  }
  if (!summary) throw new Error('the agent ended the push without a summary');
  return summary;
}

/** `migrate-cli push CTR --to HOST`: asks the local agent to move CTR, printing phases as they come. */
export async function pushCommand(a: PushArgs): Promise<void> {
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  const call = client.push({ container: a.container, destination: a.to, keepSource: a.keepSource, compressLevel: a.compress, serial: a.serial, noPrecopy: !a.precopy,
    lazyPages: LAZY_PAGES_MODES[a.lazyPages], turnBeforeCopy: false });
  const events = await followPhases(call as AsyncIterable<PushEvent>, client, a.json);
  const summary = events.find((ev): ev is Extract<PushEvent, { body: 'summary' }> => ev.body === 'summary')?.summary;
  if (!summary) throw new Error('the agent ended the push without a summary');
  console.log(a.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
}
