import path from 'node:path';
import { AgentClient, clientCredentials, type Transport } from '@livemig/core';

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
  if ((a.file === undefined) === (a.image === undefined)) throw new Error('give either a FILE or --image NAME:TAG');
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  try {
    const r = await client.restore({ file: a.file === undefined ? '' : path.resolve(a.file), image: a.image ?? '', name: a.name ?? '' });
    if (a.json) return console.log(JSON.stringify(r, null, 2));
    console.log(`restored ${r.container} (${r.containerId.slice(0, 12)}) on ${client.address}: criu restore ${r.restoreMs.toFixed(0)} ms, total ${r.totalMs.toFixed(0)} ms`);
  } finally {
    client.close();
  }
}
