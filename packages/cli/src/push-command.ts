import { AgentClient, clientCredentials, rpcErrorMessage, type PushEvent, type Summary, type Transport } from '@livemig/core';
import { formatPhase, formatSummary } from './format-summary';
import { ProgressBar } from './progress-bar';

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

/** `migrate-cli push CTR --to HOST`: asks the local agent to move CTR, printing phases as they come. */
export async function pushCommand(a: PushArgs): Promise<void> {
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  const call = client.push({ container: a.container, destination: a.to, keepSource: a.keepSource, compressLevel: a.compress, serial: a.serial, noPrecopy: !a.precopy,
    lazyPages: LAZY_PAGES_MODES[a.lazyPages] });
  let summary: Summary | undefined;
  const bar = new ProgressBar();
  try {
    for await (const ev of call as AsyncIterable<PushEvent>) {
      if (ev.body === 'summary') summary = ev.summary;
      else if (a.json) continue;
      else if (ev.body === 'progress') bar.update(ev.progress);
      else if (ev.body === 'phase') {
        bar.clear();
        console.log(formatPhase(ev.phase));
      }
    }
  } catch (err) {
    throw new Error(rpcErrorMessage(err, client.address));
  } finally {
    bar.clear();
    client.close();
  }
  if (!summary) throw new Error('the agent ended the push without a summary');
  console.log(a.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
}
