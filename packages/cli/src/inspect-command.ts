import { AgentClient, clientCredentials, type CheckpointContents, type Transport } from '@livemig/core';
import { formatBytes } from './format-summary';
import { checkpointSource } from './checkpoint-source';

export interface InspectArgs {
  agent: string;
  transport: Transport;
  /** On the agent's host (a relative path is taken from here). */
  file: string | undefined;
  image: string | undefined;
  json: boolean;
}

/** `migrate-cli inspect FILE|--image NAME`: the agent reads the checkpoint (its digest checked) and tells what it holds. */
export async function inspectCommand(a: InspectArgs): Promise<void> {
  const source = checkpointSource(a);
  const client = new AgentClient(a.agent, clientCredentials(a.transport));
  try {
    const r = await client.inspect(source);
    const c = JSON.parse(r.contentsJson) as CheckpointContents;
    console.log(a.json ? JSON.stringify(c, null, 2) : formatContents(c));
  } finally {
    client.close();
  }
}

export function formatContents(c: CheckpointContents): string {
  const h = c.header;
  const p = c.parts;
  const volumes = Object.entries(p.volumes).map(([v, n]) => `, volume ${v} ${formatBytes(n)}`).join('');
  return [
    `checkpoint ${c.file}: format ${c.formatVersion}, ${formatBytes(c.fileBytes)}, sha256 ${c.digest} (verified)`,
    `  container:   ${h.container} (${h.containerId.slice(0, 12)}), image ${h.image}`,
    `  created:     ${h.created} on ${h.host}`,
    `  dumped with: CRIU ${h.criuVersion}, kernel ${h.kernel}, ${h.arch}, protocol ${h.protocolVersion}, ${h.compressLevel === 0 ? 'uncompressed' : `zstd ${h.compressLevel}`}`,
    `  restores as: ${c.restoresAs.name} from ${c.restoresAs.image}; networks ${c.restoresAs.networks.join(', ') || '-'}; mounts ${c.restoresAs.mounts.join(', ') || '-'}`,
    `  parts:       memory pages ${formatBytes(p.memoryPages)}, CRIU images ${formatBytes(p.criuImages)}, rootfs diff ${formatBytes(p.rootfs)}${volumes}, log ${formatBytes(p.log)}`,
    `  stream:      ${formatBytes(c.stream.rawBytes)} raw, ${formatBytes(c.stream.storedBytes)} stored in ${c.stream.chunks} chunks`,
    `  processes:   ${h.processes.length}`,
    ...h.processes.map((pr) => `    ${String(pr.pid).padStart(7)}  ${pr.command}`),
  ].join('\n');
}
