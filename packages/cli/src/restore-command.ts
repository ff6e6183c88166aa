import { AgentClient, clientCredentials, type Transport } from '@livemig/core';
import { checkpointSource } from './checkpoint-source';

export interface RestoreArgs {
  agent: string;
  transport: Transport;
  /** On the agent's host (a relative path is taken from here). */
  file: string | undefined;
  /** Instead of a file: a checkpoint image on the agent's host. */
  image: string | undefined;
  name: string | undefined;
  json: boolean;
}

/** `migrate-cli restore FILE [--name NAME]`: the agent starts a new container from the checkpoint file on its host. */
export async function restoreCommand(a: RestoreArgs): Promise<void> {
  const source = checkpointSource(a);
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  try {
    const r = await client.restore({ ...source, name: a.name ?? '' });
    if (a.json) return console.log(JSON.stringify(r, null, 2));
    console.log(`restored ${r.container} (${r.containerId.slice(0, 12)}) on ${client.address}: criu restore ${r.restoreMs.toFixed(0)} ms, total ${r.totalMs.toFixed(0)} ms`);
  } finally {
    client.close();
  }
}
