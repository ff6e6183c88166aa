import { AgentClient, clientCredentials, type PeerStatusReply, type Transport } from '@livemig/core';
import { formatHealth } from './format-health';

/** `migrate-cli status --to HOST`: the local agent's facts and, agent to agent, the peer's. */
export async function statusCommand(agent: string, transport: Transport, to: string, json: boolean): Promise<void> {
  const client = new AgentClient(agent, clientCredentials(transport));
  let reply: PeerStatusReply;
  try {
    reply = await client.peerStatus(to);
  } finally {
    client.close();
  }
  if (json) {
    console.log(JSON.stringify(reply, null, 2));
  } else {
    console.log(`local  ${formatHealth(reply.local)}`);
    if (reply.peer) console.log(`peer   ${formatHealth(reply.peer)} (reached in ${reply.peerRttMs.toFixed(1)} ms)`);
  }
  if (!reply.peer) throw new Error(reply.peerError || `no answer from ${to}`);
  if (!reply.peer.criuCheckOk) throw new Error(`criu check fails on ${reply.peer.nodeName}: ${reply.peer.criuCheckMessage}`);
}
