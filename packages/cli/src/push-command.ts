import { AgentClient, clientCredentials, rpcErrorMessage, type PushEvent, type Summary, type Transport } from '@livemig/core';
import { formatBytes, formatPhase, formatSummary } from './format-summary';

export interface PushArgs {
  agent: string;
  transport: Transport;
  container: string;
  to: string;
  keepSource: boolean;
  compress: number;
  json: boolean;
}

/** `migrate-cli push CTR --to HOST`: asks the local agent to move CTR, printing phases as they come. */
export async function pushCommand(a: PushArgs): Promise<void> {
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  const call = client.push({ container: a.container, destination: a.to, keepSource: a.keepSource, compressLevel: a.compress });
  let summary: Summary | undefined;
  try {
    for await (const ev of call as AsyncIterable<PushEvent>) {
      if (ev.body === 'summary') summary = ev.summary;
      else if (a.json) continue;
      else if (ev.body === 'phase') console.log(formatPhase(ev.phase));
      else if (ev.body === 'progress') {
        console.log(`          ${formatBytes(ev.progress.bytesRaw)} read, ${formatBytes(ev.progress.bytesWire)} sent`);
      }
    }
  } catch (err) {
    throw new Error(rpcErrorMessage(err, client.address));
  } finally {
    client.close();
  }
  if (!summary) throw new Error('the agent ended the push without a summary');
  console.log(a.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
}
