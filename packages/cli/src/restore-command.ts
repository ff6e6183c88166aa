import path from 'node:path';
import { AgentClient, clientCredentials, type Transport } from '@livemig/core';

export interface RestoreArgs {
  agent: string;
  transport: Transport;
  /** On the agent's host (a relative path is taken from here). */
  file: string;
  name: string | undefined;
  json: boolean;
}

/** `migrate-cli restore FILE [--name NAME]`: the agent starts a new container from the checkpoint file on its host. */
export async function restoreCommand(a: RestoreArgs): Promise<void> {
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  try {
    const r = await client.restore({ file: path.resolve(a.file), name: a.name ?? '' });
    if (a.json) return console.log(JSON.stringify(r, null, 2));
    console.log(`restored ${r.container} (${r.containerId.slice(0, 12)}) on ${client.address}: criu restore ${r.restoreMs.toFixed(0)} ms, total ${r.totalMs.toFixed(0)} ms`);
  } finally {
    client.close();
  }
}
